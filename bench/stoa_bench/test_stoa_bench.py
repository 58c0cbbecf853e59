"""Unit tests of stoa-bench's pure parts: scenario validation, analysis and
the model-input derivation (python3 -m unittest test_stoa_bench)."""

import copy
import os
import tempfile
import unittest

import json

import analysis
import model
import phases
import runner
import scenario

GOOD = {
    "name": "t", "testbed": "deploy/testbed/4g.yaml", "duration_s": 100,
    "functions": [{"name": "digits", "artifact": "functions/examples/digits/digits.onnx"}],
    "fleets": [{"function": "digits", "devices": 2, "rate": 5}],
    "actions": [{"at_s": 60, "link": "cloud", "delay_ms": 150, "rate_mbit": 2}],
    "phases": [{"name": "a", "start_s": 0, "end_s": 60},
               {"name": "b", "start_s": 60, "end_s": 100}],
}


def row(t, lat, tier, status=200):
    return {"t": t, "latency_ms": lat, "tier": tier, "status": status}


class WarmUpTest(unittest.TestCase):
    def test_body_is_the_fleets_first_payload_else_the_digits_sample(self):
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.write('{"inputs": [1]}\n{"inputs": [2]}\n')
        try:
            s = {"fleets": [{"function": "other", "payload": "digits"},
                            {"function": "f", "payload": f.name}]}
            self.assertEqual(runner.warm_up_body(s, {"name": "f"}), '{"inputs": [1]}')
            digits = runner.warm_up_body(s, {"name": "other"})
            self.assertIn('"pixels"', digits)
        finally:
            os.unlink(f.name)


class ScenarioTest(unittest.TestCase):
    def bad(self, mutate, field):
        doc = copy.deepcopy(GOOD)
        mutate(doc)
        with self.assertRaises(ValueError) as ctx:
            scenario.validate(doc)
        self.assertIn(field, str(ctx.exception))

    def test_good_scenario_gets_defaults(self):
        s = scenario.validate(copy.deepcopy(GOOD))
        self.assertEqual(s["policies"], list(scenario.POLICIES))
        f = s["fleets"][0]
        self.assertEqual((f["arrivals"], f["start_s"], f["duration_s"], f["measured"]),
                         ("poisson", 0, 100, True))
        self.assertEqual(s["actions"][0]["set"], {"delay_ms": 150, "rate_mbit": 2})
        self.assertEqual(s["functions"][0]["tiers"], ["edge", "cloud"])

    def test_bad_fields_are_named(self):
        self.bad(lambda d: d.pop("testbed"), "testbed")
        self.bad(lambda d: d.update(testbed="deploy/testbed/nope.yaml"), "testbed")
        self.bad(lambda d: d.update(duration_s=-1), "duration_s")
        self.bad(lambda d: d.update(colour="red"), "colour")
        self.bad(lambda d: d["fleets"][0].update(rate=0), "fleets[0].rate")
        self.bad(lambda d: d["fleets"][0].update(devices=1.5), "fleets[0].devices")
        self.bad(lambda d: d["fleets"][0].update(function="other"), "fleets[0].function")
        self.bad(lambda d: d["fleets"][0].update(arrivals="bursty"), "fleets[0].arrivals")
        self.bad(lambda d: d["fleets"][0].update(start_s=50, duration_s=60),
                 "fleets[0].duration_s")
        self.bad(lambda d: d["fleets"][0].update(measured=False), "fleets")
        self.bad(lambda d: d["actions"][0].update(link="moon"), "actions[0].link")
        self.bad(lambda d: d["actions"][0].update(at_s=101), "actions[0].at_s")
        self.bad(lambda d: d["actions"][0].update(loss=2), "actions[0].loss")
        self.bad(lambda d: d["actions"][0].pop("delay_ms") and d["actions"][0].pop(
            "rate_mbit"), "actions[0]")
        self.bad(lambda d: d["phases"][1].update(end_s=50), "phases[1].end_s")
        self.bad(lambda d: d.update(policies=["fastest"]), "policies")
        self.bad(lambda d: d["functions"][0].update(tiers=["fog"]), "functions[0].tiers")
        self.bad(lambda d: d["functions"].append(dict(d["functions"][0])), "duplicate")
        self.bad(lambda d: d.update(model={"edge_proc_ms": -3}), "model.edge_proc_ms")

    def test_quota_and_load_actions(self):
        doc = copy.deepcopy(GOOD)
        doc["actions"] += [{"at_s": 70, "quota": "edge", "cores": 0.25},
                           {"at_s": 80, "load": "cloud", "procs": 3}]
        s = scenario.validate(doc)
        self.assertEqual([(a["kind"], a["target"], a["set"]) for a in s["actions"]],
                         [("link", "cloud", {"delay_ms": 150, "rate_mbit": 2}),
                          ("quota", "edge", {"cores": 0.25}),
                          ("load", "cloud", {"procs": 3})])

        def bad_action(action, needle):
            d = copy.deepcopy(GOOD)
            d["actions"] = [action]
            with self.assertRaises(ValueError) as ctx:
                scenario.validate(d)
            self.assertIn(needle, str(ctx.exception))
        bad_action({"at_s": 1, "quota": "edge", "cores": 0}, "actions[0].cores")
        bad_action({"at_s": 1, "quota": "fog", "cores": 1}, "actions[0].quota")
        bad_action({"at_s": 1, "quota": "edge"}, "actions[0].cores")
        bad_action({"at_s": 1, "load": "cloud", "procs": 1.5}, "actions[0].procs")
        bad_action({"at_s": 1, "load": "cloud", "procs": -1}, "actions[0].procs")
        bad_action({"at_s": 1, "load": "cloud", "procs": 1, "delay_ms": 3}, "actions[0].delay_ms")
        bad_action({"at_s": 1, "load": "cloud", "quota": "edge", "procs": 1}, "exactly one")
        bad_action({"at_s": 1, "cores": 1}, "exactly one")

    def test_apply_action_calls_the_testbed(self):
        calls = []

        class FakeTestbed:
            def set_link(self, name, **kw):
                calls.append(("link", name, kw))

            def set_quota(self, name, cores):
                calls.append(("quota", name, cores))

            def set_load(self, name, procs):
                calls.append(("load", name, procs))
        doc = copy.deepcopy(GOOD)
        doc["actions"] += [{"at_s": 70, "quota": "edge", "cores": 0.25},
                           {"at_s": 80, "load": "cloud", "procs": 3}]
        for a in scenario.validate(doc)["actions"]:
            runner.apply_action(FakeTestbed(), a)
        self.assertEqual(calls, [("link", "cloud", {"delay_ms": 150, "rate_mbit": 2}),
                                 ("quota", "edge", 0.25), ("load", "cloud", 3)])

    def test_warm_up_lifts_a_quota_only_after_a_deadline_and_puts_it_back(self):
        calls, answers = [], {"edge": [504, 200], "cloud": [200]}

        class FakeTestbed:
            quota = {"edge": 0.02, "cloud": None}

            def get_cpu(self, tier):
                return {"quota_cores": self.quota[tier], "busy": 0}

            def set_quota(self, tier, cores):
                calls.append(("quota", tier, cores))
                self.quota[tier] = cores

        def fake_request(url, method, path, body=None, timeout=30):
            tier = path.rsplit("=", 1)[1]
            calls.append(("invoke", tier))
            return answers[tier].pop(0), "{}"
        real, runner._request = runner._request, fake_request
        try:
            lifted, tb = [], FakeTestbed()
            runner.warm_up("http://h:1", {"name": "f", "tiers": ["edge", "cloud"]}, "{}", tb,
                           lifted)
            self.assertEqual(calls, [("invoke", "edge"), ("quota", "edge", None),
                                     ("invoke", "edge"), ("quota", "edge", 0.02),
                                     ("invoke", "cloud")])
            self.assertEqual(lifted, [{"function": "f", "tier": "edge", "quota_cores": 0.02}])
            self.assertEqual(tb.quota["edge"], 0.02)
            # Still a 504 with the quota lifted: the quota is back, the pass fails.
            calls.clear()
            answers["edge"] = [504, 504]
            with self.assertRaisesRegex(RuntimeError, "warm-up of f on edge: HTTP 504"):
                runner.warm_up("http://h:1", {"name": "f", "tiers": ["edge"]}, "{}", tb, [])
            self.assertEqual(tb.quota["edge"], 0.02)
        finally:
            runner._request = real

    def test_load_names_the_file_and_rejects_bad_yaml(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("name: [unclosed\n")
        try:
            with self.assertRaises(ValueError) as ctx:
                scenario.load(f.name)
            self.assertIn(f.name, str(ctx.exception))
            self.assertIn("malformed", str(ctx.exception))
        finally:
            os.unlink(f.name)

    def test_every_shipped_scenario_is_valid(self):
        d = os.path.join(scenario.REPO_ROOT, "bench", "scenarios")
        files = [n for n in os.listdir(d) if n.endswith(".yaml")]
        self.assertGreaterEqual(len(files), 5)
        for name in files:
            s = scenario.load(os.path.join(d, name))
            self.assertTrue(s["phases"])

    def test_scaled_shrinks_every_time(self):
        s = scenario.scaled(scenario.validate(copy.deepcopy(GOOD)), 10)
        self.assertEqual(s["duration_s"], 10)
        self.assertAlmostEqual(s["actions"][0]["at_s"], 6)
        self.assertAlmostEqual(s["phases"][1]["start_s"], 6)
        self.assertAlmostEqual(s["fleets"][0]["duration_s"], 10)


class PhasesTest(unittest.TestCase):
    PHASES = [{"name": "a", "start_s": 0, "end_s": 10}, {"name": "b", "start_s": 10, "end_s": 20}]

    def test_accuracy_regret_and_time_to_adapt_per_phase(self):
        # Phase a: all right. Phase b: the first 5 wrong (20 ms instead of
        # 10), then right: adapted at the 6th request, 5 requests in.
        run = [(i * 0.5, True, 10.0, 10.0) for i in range(20)]
        run += [(10 + i * 0.5, i >= 5, 20.0 if i < 5 else 10.0, 10.0) for i in range(20)]
        by_phase, total = phases.score_phases(run, self.PHASES)
        a, b = by_phase
        self.assertEqual((a["requests"], a["accuracy"], a["regret_pct"]), (20, 1.0, 0.0))
        self.assertEqual((a["adapt_s"], a["adapt_requests"]), (0.0, 0))
        self.assertEqual(b["accuracy"], 0.75)
        self.assertAlmostEqual(b["regret_pct"], 25.0)
        # 1 wrong allowed in a window of 20: from the 5th request on.
        self.assertEqual((b["adapt_s"], b["adapt_requests"]), (2.0, 4))
        self.assertEqual((total["adapt_s"], total["adapt_requests"]), (2.0, 4))
        self.assertAlmostEqual(total["accuracy"], 35 / 40)

    def test_a_phase_that_never_adapts(self):
        # As stoa-sim: the windows at a phase's end are shorter, so only its
        # last request can count as adapted; an empty phase has no figure.
        run = [(10 + i * 0.5, False, 20.0, 10.0) for i in range(20)]
        by_phase, total = phases.score_phases(run, self.PHASES)
        self.assertEqual(by_phase[1]["adapt_requests"], 19)
        self.assertEqual(by_phase[0]["requests"], 0)
        self.assertIsNone(by_phase[0]["adapt_s"])
        self.assertEqual(total["adapt_requests"], 19)
        # The last request is no adaptation: out of issue 14's bound.
        self.assertFalse(by_phase[1]["adapt_in_target"])
        self.assertFalse(total["adapt_in_target"])

    def test_adapt_in_target_within_1_s_or_20_requests_whichever_is_later(self):
        # 10 requests/s: 17 wrong (1.7 s) is over 1 s but within 20 requests;
        # 22 wrong is past both.
        def phase(wrong):
            return [(10 + i * 0.1, i >= wrong, 10.0, 10.0) for i in range(60)]
        for wrong, in_target in ((0, True), (17, True), (20, True), (22, False)):
            by_phase, total = phases.score_phases(
                [(i * 0.5, True, 10.0, 10.0) for i in range(20)] + phase(wrong), self.PHASES)
            b = by_phase[1]
            self.assertEqual(b["adapt_requests"], max(0, wrong - 1), wrong)
            self.assertEqual(b["adapt_in_target"], in_target, wrong)
            self.assertEqual(total["adapt_in_target"], in_target, wrong)
        # Fast arrivals: 30 wrong requests within 0.6 s are inside the 1 s.
        fast = [(10 + i * 0.02, i >= 30, 10.0, 10.0) for i in range(100)]
        by_phase, _ = phases.score_phases(fast, self.PHASES)
        self.assertEqual(by_phase[1]["adapt_requests"], 29)
        self.assertTrue(by_phase[1]["adapt_in_target"])

    def test_decision_regret_prices_requests_by_the_forced_passes(self):
        best = {0: ("cloud", 10.0), 1: ("edge", 20.0)}
        edge, cloud = {0: 40.0, 1: 20.0}, {0: 10.0, 1: 50.0}
        rows = [row(1, 12, "cloud"), row(2, 30, "edge"), row(6, 25, "edge"),
                row(7, 60, "cloud"), row(8, 9, "edge", 503), row(11, 9, "edge")]
        scored = phases.scored_by_decision(rows, edge, cloud, best, 5.0)
        # The correct ones cost their own bucket mean whatever they took.
        self.assertEqual(scored, [(1, True, 10.0, 10.0), (2, False, 40.0, 10.0),
                                  (6, True, 20.0, 20.0), (7, False, 50.0, 20.0)])
        _, total = phases.score_phases(scored, [{"name": "x", "start_s": 0, "end_s": 10}])
        self.assertAlmostEqual(total["regret_pct"], 100.0 * (120.0 / 60.0 - 1.0))

    def test_a_backups_answer_counts_for_the_tier_the_scheduler_chose(self):
        best = {0: ("cloud", 10.0)}
        late = row(1, 35, "edge")
        late["reason"] = "backup"  # chose the cloud, which was late; the edge answered
        missed = row(2, 35, "edge")  # chose the edge
        self.assertEqual(phases.decided_tier(late), "cloud")
        self.assertEqual(phases.scored_by_oracle([late, missed], best, 5.0),
                         [(1, True, 35, 10.0), (2, False, 35, 10.0)])
        edge, cloud = {0: 40.0}, {0: 10.0}
        # Decision regret prices the backup's answer at what it took (the
        # wait and the backup's run), the miss at its tier's mean.
        self.assertEqual(phases.scored_by_decision([late, missed], edge, cloud, best, 5.0),
                         [(1, True, 35, 10.0), (2, False, 40.0, 10.0)])
        late["tier"], late["latency_ms"] = "cloud", 25  # chose the edge; the cloud answered
        self.assertEqual(phases.scored_by_decision([late], edge, cloud, best, 5.0),
                         [(1, False, 25, 10.0)])

    def test_a_hedge_counts_for_the_tier_that_answered_and_costs_no_regret(self):
        best = {0: ("edge", 50.0)}
        edge, cloud = {0: 50.0}, {0: 320.0}  # the forced cloud pass was starved
        lucky = row(1, 60, "cloud")
        lucky["reason"] = "hedge"  # ran on both; the cloud answered first
        won = row(2, 70, "edge")
        won["reason"] = "hedge"  # the edge answered, slower than its mean
        self.assertEqual(phases.decided_tier(lucky), "cloud")
        # It ran on the oracle's tier too: no decision regret either way.
        self.assertEqual(phases.scored_by_decision([lucky, won], edge, cloud, best, 5.0),
                         [(1, False, 50.0, 50.0), (2, True, 50.0, 50.0)])
        # Miss regret: none either (the edge's own run of `lucky` lost the
        # race); before 2026-12-02 `lucky` was priced at its own latency.
        self.assertEqual(phases.scored_by_miss([lucky, won], edge, cloud, best, 5.0),
                         [(1, False, 50.0, 50.0), (2, True, 50.0, 50.0)])
        self.assertEqual(phases.scored_by_miss([lucky, won], edge, cloud, best, 5.0,
                                               hedges_charged=True),
                         [(1, False, 60, 50.0), (2, True, 50.0, 50.0)])

    def test_miss_regret_prices_a_miss_at_its_own_latency(self):
        best = {0: ("cloud", 10.0)}
        edge, cloud = {0: 190.0}, {0: 10.0}  # the forced edge pass queued
        rows = [row(1, 12, "cloud"), row(2, 35, "edge"), row(3, 25, "edge")]
        rows[2]["reason"] = "backup"  # chose the cloud, late; the edge answered
        self.assertEqual(phases.scored_by_miss(rows, edge, cloud, best, 5.0),
                         [(1, True, 10.0, 10.0), (2, False, 35, 10.0), (3, True, 25, 10.0)])
        self.assertEqual(phases.scored_by_decision(rows[:2], edge, cloud, best, 5.0)[1],
                         (2, False, 190.0, 10.0))

    def test_bucket_oracle_and_shadow_samples(self):
        best = {0: ("cloud", 10.0), 1: ("edge", 20.0)}
        rows = [row(1, 12, "cloud"), row(2, 30, "edge"), row(6, 25, "edge"),
                row(7, 9, "edge", 503)]
        self.assertEqual(phases.scored_by_oracle(rows, best, 5.0),
                         [(1, True, 12, 10.0), (2, False, 30, 10.0), (6, True, 25, 20.0)])
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            for ev in [{"ev": "start"},
                       {"ev": "decision", "id": 1, "t_us": 1_000_000, "tier": "cloud"},
                       {"ev": "outcome", "id": 1, "tier": "cloud", "ok": True, "latency_ms": 12},
                       {"ev": "outcome", "id": 1, "tier": "edge", "ok": True, "latency_ms": 40},
                       {"ev": "decision", "id": 2, "t_us": 2_000_000, "tier": "edge"},
                       {"ev": "outcome", "id": 2, "tier": "edge", "ok": True, "latency_ms": 30},
                       {"ev": "outcome", "id": 2, "tier": "cloud", "ok": True, "latency_ms": 11},
                       {"ev": "decision", "id": 3, "t_us": 3_000_000, "tier": "edge"},
                       {"ev": "outcome", "id": 3, "tier": "edge", "ok": True, "latency_ms": 30}]:
                f.write(json.dumps(ev) + "\n")
            f.write('{"ev": "outc')  # cut by a kill
        try:
            trace = phases.read_trace(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(set(trace), {1, 2, 3})
        # Aligned on the first decision = the first request (t = 1 s).
        self.assertEqual(phases.scored_by_shadow(trace, rows),
                         [(1.0, True, 12, 12), (2.0, False, 30, 11)])
        # Request 2 (bucket 0, oracle cloud) ran on both and the cloud
        # answered first: agrees although the edge was chosen; request 1
        # agrees too. With the oracle's tier edge in bucket 0 neither does.
        self.assertEqual(phases.scored_by_oracle_agreement(trace, rows, best, 5.0),
                         [(1.0, True, 12, 12), (2.0, True, 11, 11)])
        self.assertEqual(
            phases.scored_by_oracle_agreement(trace, rows, {0: ("edge", 20.0)}, 5.0),
            [(1.0, False, 40, 12), (2.0, False, 30, 11)])
        # A bucket the oracle does not know is left out.
        self.assertEqual(phases.scored_by_oracle_agreement(trace, rows, {1: ("edge", 20.0)}, 5.0),
                         [])


class AnalysisTest(unittest.TestCase):
    def test_percentile_nearest_rank(self):
        v = list(range(1, 101))
        self.assertEqual(analysis.percentile(v, 50), 50)
        self.assertEqual(analysis.percentile(v, 99), 99)
        self.assertIsNone(analysis.percentile([], 50))

    def test_summary_counts_errors_and_tiers(self):
        rows = [row(0, 10, "edge"), row(1, 20, "cloud"), row(2, 30, "edge"),
                row(3, 99, "", 503)]
        s = analysis.summarize(rows, 2.0)
        self.assertEqual((s["ok"], s["errors"]), (3, 1))
        self.assertEqual(s["p50_ms"], 20)
        self.assertEqual(s["tiers"], {"edge": 2, "cloud": 1})
        self.assertEqual(s["throughput"], 1.5)

    def test_oracle_switches_tier_when_the_link_degrades(self):
        # Edge 30 ms throughout; cloud 10 ms before t=10, 200 ms after.
        edge = [row(t, 30, "edge") for t in range(20)]
        cloud = [row(t, 10 if t < 10 else 200, "cloud") for t in range(20)]
        best = analysis.oracle(edge, cloud, 5)
        self.assertEqual(best[0], ("cloud", 10))
        self.assertEqual(best[3], ("edge", 30))
        # A policy that stayed on the cloud: right half the time, regret
        # (200 - 30) on the second half.
        stay = [row(t, 10 if t < 10 else 200, "cloud") for t in range(20)]
        acc, regret = analysis.accuracy_and_regret(stay, best, 5)
        self.assertAlmostEqual(acc, 0.5)
        self.assertAlmostEqual(regret, 85)
        # A policy that switched is always right with zero regret.
        switch = [row(t, 10, "cloud") if t < 10 else row(t, 30, "edge") for t in range(20)]
        self.assertEqual(analysis.accuracy_and_regret(switch, best, 5), (1.0, 0.0))
        self.assertEqual(len(analysis.oracle_rows(edge, cloud, 5)), 20)

    def test_oracle_ignores_errors_and_uses_the_tier_that_answered(self):
        edge = [row(t, 1, "edge", 503) for t in range(5)]
        cloud = [row(t, 50, "cloud") for t in range(5)]
        self.assertEqual(analysis.oracle(edge, cloud, 5), {0: ("cloud", 50)})
        self.assertEqual(analysis.accuracy_and_regret([], {0: ("edge", 1)}, 5),
                         (None, None))

    def test_read_csv_checks_the_header(self):
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            f.write(",".join(analysis.FIELDS) + "\n")
            f.write("1,2,0.5,0.5,12.5,200,edge,11.0,predicted-best,10.0,1,\n")
        try:
            rows = analysis.read_csv(f.name)
            self.assertEqual(rows[0]["latency_ms"], 12.5)
            self.assertTrue(rows[0]["cold_start"])
            with open(f.name, "w") as g:
                g.write("a,b\n")
            with self.assertRaises(ValueError):
                analysis.read_csv(f.name)
        finally:
            os.unlink(f.name)


class ModelInputTest(unittest.TestCase):
    META = {"testbed": {"edge": {"quota_cores": 0.5, "threads": 1},
                        "cloud": {"threads": 2}},
            "links": [{"t": 0, "links": {"edge": {"delay_ms": 7.5, "rate_mbit": 1000},
                                         "cloud": {"delay_ms": 45, "rate_mbit": 7.21}}},
                      {"t": 60, "links": {"edge": {"delay_ms": 7.5, "rate_mbit": 0},
                                          "cloud": {"delay_ms": 150, "rate_mbit": 2}}}]}

    def test_arrival_rate_weights_fleets_by_overlap(self):
        sc = {"fleets": [{"devices": 10, "rate": 5, "start_s": 0, "duration_s": 100},
                         {"devices": 50, "rate": 20, "start_s": 40, "duration_s": 30}]}
        self.assertAlmostEqual(model.arrival_rate(sc, {"start_s": 0, "end_s": 40}), 50)
        self.assertAlmostEqual(model.arrival_rate(sc, {"start_s": 40, "end_s": 70}), 1050)
        self.assertAlmostEqual(model.arrival_rate(sc, {"start_s": 60, "end_s": 80}), 550)

    def test_inputs_follow_the_link_in_effect_at_the_phase_midpoint(self):
        sc = {"fleets": [{"devices": 10, "rate": 5, "start_s": 0, "duration_s": 180}],
              "model": {}}
        before = model.inputs(sc, self.META, {"start_s": 0, "end_s": 60},
                              {"edge": 1, "cloud": 0.5})
        after = model.inputs(sc, self.META, {"start_s": 60, "end_s": 120},
                             {"edge": 1, "cloud": 0.5})
        self.assertEqual((before["cloud-rtt-ms"], before["cloud-rate-mbit"]), (90, 7.21))
        self.assertEqual((after["cloud-rtt-ms"], after["cloud-rate-mbit"]), (300, 2))
        self.assertEqual(after["edge-rate-mbit"], model.UNLIMITED_MBIT)  # 0: unlimited
        self.assertEqual((before["edge-cores"], before["cloud-cores"]),
                         (0.5, min(2, os.cpu_count())))
        self.assertEqual(before["rate"], 50)

    def test_proc_time_prefers_scenario_then_calibration(self):
        rows = [{"t": t, "status": 200, "server_latency_ms": 90 + t % 3} for t in range(30)]
        phase = {"name": "p", "start_s": 0, "end_s": 60}
        self.assertEqual(model.calibrated_proc_ms(rows, self.META, "cloud", phase), 1)
        sc = {"model": {"edge_proc_ms": 0.7}, "phases": [phase]}
        passes = {"cloud_only": {"dir": "/nonexistent", "rows": rows, "meta": self.META}}
        proc = model.proc_times(sc, passes)
        self.assertEqual(proc["edge"], (0.7, "scenario"))
        self.assertEqual(proc["cloud"][0], 1)  # 2 threads, no quota
        edge_passes = {"edge_only": {"dir": "/nonexistent", "rows": rows, "meta": self.META}}
        sc["model"] = {}
        # Edge rows are 90-92 ms - 15 ms RTT = 76 ms wall at half a core.
        self.assertEqual(model.proc_times(sc, edge_passes)["edge"][0], 76 * 0.5)
        self.assertIn("calibrated", proc["cloud"][1])


class RunTimeTest(unittest.TestCase):
    def test_the_first_pass_start_or_says_it_was_not_recorded(self):
        import report
        passes = {"edge_only": {"meta": {"started_utc": "2026-12-02 05:10:42"}},
                  "predictive": {"meta": {"started_utc": "2026-12-02 05:03:07"}}}
        self.assertEqual(report._run_time(passes), "2026-12-02 05:03 UTC (first pass's start)")
        self.assertTrue(report._run_time({"p": {"meta": {}}}).startswith(
            "start not recorded; report built "))


class ShadowAccuracyTest(unittest.TestCase):
    def test_reads_and_sums_the_schedulers_accuracy(self):
        import json
        import report
        d = tempfile.mkdtemp()
        self.assertIsNone(report.shadow_accuracy(d))  # no state.json
        with open(os.path.join(d, "state.json"), "w") as f:
            json.dump({"functions": {
                "a": {"accuracy": {"comparisons": 30, "correct": 27, "regret_ms": 4.5}},
                "b": {"accuracy": {"comparisons": 10, "correct": 9, "ratio": 0.9}},
                "c": {"accuracy": {"comparisons": 0, "correct": 0, "ratio": None}}}}, f)
        self.assertEqual(report.shadow_accuracy(d), (0.9, 40, 4.5))
        with open(os.path.join(d, "state.json"), "w") as f:
            json.dump({"functions": {"a": {"edge": {}}}}, f)
        self.assertIsNone(report.shadow_accuracy(d))


if __name__ == "__main__":
    unittest.main()
