"""The testbed file format: reading and validating one YAML testbed
description (docs/testbed.md) into the normalised config that testbed.py
starts. Every error is a ValueError naming the first bad field, e.g.
"edge.link.loss: must be <= 1, got 2".

Needs only the Python standard library and PyYAML.
"""

import math
import os

import yaml

PRESETS = ("4g", "5g", "edge", "lan")
POLICIES = ("predictive", "edge_only", "cloud_only", "round_robin", "random")
LINK_FIELDS = ("delay_ms", "jitter_ms", "rate_mbit", "loss")


def _fail(field, problem):
    raise ValueError("%s: %s" % (field, problem))


def _mapping(value, field):
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(field, "expected a mapping, got %r" % (value,))
    return value


def _known_keys(section, field, allowed):
    for key in section:
        if key not in allowed:
            _fail("%s.%s" % (field, key) if field else str(key),
                  "unknown field (expected one of: %s)" % ", ".join(allowed))


def _number(section, key, field, default, minimum=None, maximum=None,
            integer=False, exclusive_min=False):
    if key not in section or section[key] is None:
        return default
    value = section[key]
    name = "%s.%s" % (field, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(name, "expected a number, got %r" % (value,))
    if integer and not isinstance(value, int):
        _fail(name, "expected an integer, got %r" % (value,))
    if not math.isfinite(value):
        _fail(name, "expected a finite number, got %r" % (value,))
    if minimum is not None:
        if exclusive_min and value <= minimum:
            _fail(name, "must be > %s, got %r" % (minimum, value))
        if not exclusive_min and value < minimum:
            _fail(name, "must be >= %s, got %r" % (minimum, value))
    if maximum is not None and value > maximum:
        _fail(name, "must be <= %s, got %r" % (maximum, value))
    return value


def validate_link(section, field):
    """Checks a link mapping; returns {preset?, delay_ms?, ...} (None: unset)."""
    section = _mapping(section, field)
    _known_keys(section, field, ("preset",) + LINK_FIELDS)
    link = {"preset": section.get("preset")}
    if link["preset"] is not None and link["preset"] not in PRESETS:
        _fail(field + ".preset", "unknown preset %r (expected one of: %s)"
              % (link["preset"], ", ".join(PRESETS)))
    link["delay_ms"] = _number(section, "delay_ms", field, None, minimum=0)
    link["jitter_ms"] = _number(section, "jitter_ms", field, None, minimum=0)
    link["rate_mbit"] = _number(section, "rate_mbit", field, None, minimum=0)
    link["loss"] = _number(section, "loss", field, None, minimum=0, maximum=1)
    return link


def validate(doc):
    """Validates a parsed testbed document; returns the normalised config.

    Raises ValueError naming the first bad field.
    """
    if not isinstance(doc, dict):
        _fail("testbed", "expected a mapping at the top level, got %r" % (doc,))
    _known_keys(doc, "", ("name", "bin_dir", "data_dir", "log_dir", "gateway",
                          "edge", "cloud"))
    name = doc.get("name")
    if not isinstance(name, str) or not name or not all(
            c.isalnum() or c in "-_." for c in name):
        _fail("name", "required: a non-empty string of letters, digits, '-', "
              "'_' or '.', got %r" % (name,))
    config = {"name": name}
    for key in ("bin_dir", "data_dir", "log_dir"):
        value = doc.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            _fail(key, "expected a path string, got %r" % (value,))
        config[key] = value

    gateway = _mapping(doc.get("gateway"), "gateway")
    _known_keys(gateway, "gateway", ("port", "http_threads", "policy"))
    policy = gateway.get("policy")
    if policy is not None:
        policy = _mapping(policy, "gateway.policy")
        kind = policy.get("policy")
        if kind is not None and kind not in POLICIES:
            _fail("gateway.policy.policy", "unknown policy %r (expected one of: %s)"
                  % (kind, ", ".join(POLICIES)))
    config["gateway"] = {
        "port": _number(gateway, "port", "gateway", 0, 0, 65535, integer=True),
        "http_threads": _number(gateway, "http_threads", "gateway", 2, 1, 256,
                                integer=True),
        "policy": policy,
    }

    for tier in ("edge", "cloud"):
        if tier not in doc:
            _fail(tier, "required: the %s tier (threads, link)" % tier)
    edge = _mapping(doc.get("edge"), "edge")
    _known_keys(edge, "edge", ("quota_cores", "quota_period_ms", "threads",
                               "intra_op_threads", "link"))
    config["edge"] = {
        "quota_cores": _number(edge, "quota_cores", "edge", 1.0, 0.01,
                               float(os.cpu_count() or 1), exclusive_min=False),
        "quota_period_ms": _number(edge, "quota_period_ms", "edge", 100, 1, 1000),
        "threads": _number(edge, "threads", "edge", 1, 1, 256, integer=True),
        "intra_op_threads": _number(edge, "intra_op_threads", "edge", 1, 1, 256, integer=True),
        "link": validate_link(edge.get("link"), "edge.link"),
    }
    cloud = _mapping(doc.get("cloud"), "cloud")
    _known_keys(cloud, "cloud", ("quota_cores", "quota_period_ms", "threads",
                                 "intra_op_threads", "link"))
    config["cloud"] = {
        "quota_cores": _number(cloud, "quota_cores", "cloud", None, 0.01,
                               float(os.cpu_count() or 1)),
        "quota_period_ms": _number(cloud, "quota_period_ms", "cloud", 100, 1, 1000),
        "threads": _number(cloud, "threads", "cloud", 2, 1, 256, integer=True),
        "intra_op_threads": _number(cloud, "intra_op_threads", "cloud", 1, 1, 256,
                                    integer=True),
        "link": validate_link(cloud.get("link"), "cloud.link"),
    }
    return config


def load_yaml(path):
    """Reads and validates a testbed file; ValueError names the problem."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ValueError("%s: cannot read: %s" % (path, e.strerror)) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError("%s: malformed YAML: %s" % (path, e)) from None
    try:
        return validate(doc)
    except ValueError as e:
        raise ValueError("%s: %s" % (path, e)) from None
