#!/usr/bin/env python3
"""A stand-in for a real LLM wrapper, for autosim's tests of `command`, `record` and `replay`.

Reads one metrics snapshot (JSON) on standard input and prints one decision (JSON, the seed's
format) on standard output: enough pods for 25 requests per second each. Arguments:
  --fence       wrap the reply in a markdown code fence (as models often do)
  --garble N    reply with broken JSON when the snapshot's time is a multiple of N seconds
  --sleep S     sleep S seconds before answering (to test the timeout)
  --fail        exit with status 3 and a message on standard error
"""
import json
import math
import sys
import time

args = sys.argv[1:]
snap = json.loads(sys.stdin.read())
if "--sleep" in args:
    time.sleep(float(args[args.index("--sleep") + 1]))
if "--fail" in args:
    print("wrapper: the model API is unavailable", file=sys.stderr)
    sys.exit(3)
if "--garble" in args:
    n = float(args[args.index("--garble") + 1])
    if snap["time_s"] > 0 and snap["time_s"] % n == 0:
        print('{"action": "scale_up_horiz')
        sys.exit(0)
pods = snap["current_pod_count"]
want = max(1, math.ceil(snap["request_rate_per_second"] / 25.0))
action = "maintain" if want == pods else ("scale_up_horizontal" if want > pods else "scale_down_horizontal")
reply = json.dumps({
    "action": action,
    "recommended_pod_count": want,
    "confidence": 0.9,
    "reasoning": "%.1f req/s at 25 per pod needs %d pods" % (snap["request_rate_per_second"], want),
    "urgency": "normal",
})
if "--fence" in args:
    reply = "```json\n" + reply + "\n```"
print(reply)
