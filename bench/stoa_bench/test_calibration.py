"""Unit tests of stoa-bench's calibration of a testbed to the host: the
scenario's `calibrate` section, the scaled testbed and the report's line
(python3 -m unittest test_calibration)."""

import copy
import unittest

import report
import runner
import scenario
from test_stoa_bench import GOOD


class CalibrationTest(unittest.TestCase):
    FLIPS = dict(GOOD, testbed="deploy/testbed/flips.yaml",
                 actions=[{"at_s": 50, "quota": "edge", "cores": 0.2},
                          {"at_s": 60, "link": "cloud", "delay_ms": 60}])

    def test_validation(self):
        doc = copy.deepcopy(self.FLIPS)
        doc["calibrate"] = {"function": "digits", "utilization": 0.1}
        self.assertEqual(scenario.validate(doc)["calibrate"],
                         {"function": "digits", "utilization": 0.1, "requests": 60})
        for bad, field in (({"function": "nope", "utilization": 0.1}, "calibrate.function"),
                           ({"function": "digits"}, "calibrate.utilization"),
                           ({"function": "digits", "utilization": 0}, "calibrate.utilization"),
                           ({"function": "digits", "utilization": 1.5},
                            "calibrate.utilization"),
                           ({"function": "digits", "utilization": 0.1, "requests": 3},
                            "calibrate.requests"),
                           ({"function": "digits", "utilization": 0.1, "colour": 1},
                            "calibrate.colour")):
            d = copy.deepcopy(self.FLIPS)
            d["calibrate"] = bad
            with self.assertRaises(ValueError) as ctx:
                scenario.validate(d)
            self.assertIn(field, str(ctx.exception))
        d = copy.deepcopy(self.FLIPS)
        d["functions"][0]["tiers"] = ["cloud"]
        d["calibrate"] = {"function": "digits", "utilization": 0.1}
        with self.assertRaisesRegex(ValueError, "does not run on the edge"):
            scenario.validate(d)

    def test_calibrated_scales_both_quotas_and_quota_actions(self):
        s = scenario.validate(copy.deepcopy(self.FLIPS))
        cal = {"function": "digits", "tier": "edge", "utilization": 0.1, "requests": 60,
               "rate": 10, "cpu_ms": 3.0, "edge_quota_cores": 0.1, "scale": 3.0}
        out = runner.calibrated(s, cal)
        tb = out["testbed_config"]
        self.assertEqual((tb["edge"]["quota_cores"], tb["cloud"]["quota_cores"]), (0.3, 0.9))
        self.assertEqual(out["actions"][0]["set"], {"cores": 0.6})
        self.assertEqual(out["actions"][1]["set"], {"delay_ms": 60})
        self.assertEqual(out["calibration"]["quotas"], {"edge": 0.3, "cloud": 0.9})
        self.assertNotIn("testbed_config", s)  # the scenario itself is untouched
        self.assertEqual(s["actions"][0]["set"], {"cores": 0.2})
        # Capped by the executor's threads (the edge has one).
        tb = runner.calibrated(s, dict(cal, scale=50.0))["testbed_config"]
        self.assertEqual(tb["edge"]["quota_cores"], 1.0)
        line = report.calibration_line(out["calibration"])
        self.assertIn("3.00 ms of CPU", line)
        self.assertIn("30 % of the written edge quota", line)
        self.assertIn("multiplied by 3", line)
        self.assertIn("edge 0.3 cores, cloud 0.9 cores", line)
        self.assertIn("skipped (why)", report.calibration_line({"skipped": "why"}))
        rounds = report.calibration_line(dict(out["calibration"], rounds_cpu_ms=[2.5, 3.0, 2.8]))
        self.assertIn("the highest of 3 rounds of 60 requests, its quota lifted: 2.50, 3.00, "
                      "2.80 ms", rounds)


if __name__ == "__main__":
    unittest.main()
