"""Drive the JSON API with wrk (C, epoll) so the load generator costs the server's cores little.

Python client threads spend about 1 ms of CPU per request, on the same two cores the portal
runs on: at a thousand requests a second the client would be measuring itself. wrk sends
pre-built bodies, one per request (each report needs its own `lookup_id`), read from a file
by a Lua script; each wrk thread takes its own slice of the file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SCRIPT = r"""
local bodies, next_index, step = {}, 1, 1
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  local path, total = args[1], tonumber(args[2])
  step = total
  next_index = id
  for line in io.lines(path) do table.insert(bodies, line) end
  created, other = 0, 0
end

request = function()
  local body = bodies[next_index]
  if body == nil then
    return wrk.format("GET", "/api/v1/config")  -- out of bodies: counted apart, see done()
  end
  next_index = next_index + step
  return wrk.format("POST", "/api/v1/reports", {["Content-Type"] = "application/json"}, body)
end

response = function(status, headers, body)
  if status == 201 then created = created + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local c, o = 0, 0
  for _, thread in ipairs(threads) do
    c = c + thread:get("created")
    o = o + thread:get("other")
  end
  io.write(string.format(
    "LANTHORN created=%d other=%d errors=%d p50=%d p99=%d max=%d duration=%d\n",
    c, o, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, summary.duration))
end
"""
_RESULT = re.compile(
    r"LANTHORN created=(\d+) other=(\d+) errors=(\d+) p50=(\d+) p99=(\d+) max=(\d+) "
    r"duration=(\d+)"
)


@dataclass(frozen=True)
class WrkResult:
    connections: int
    seconds: float  # as wrk measured it, first request to last answer: not the nominal -d
    created: int
    other: int  # non-201 answers, and GETs sent after the bodies ran out
    errors: int
    p50: float
    p99: float
    max: float

    @property
    def rate(self) -> float:
        return self.created / self.seconds


def available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, bodies: Sequence[bytes], connections: int, seconds: int) -> WrkResult:
    """POST `bodies` to `url`/api/v1/reports for `seconds` over `connections` connections."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    threads = min(2, connections)
    with tempfile.TemporaryDirectory(prefix="lanthorn-wrk-") as tmp:
        script, data = Path(tmp) / "reports.lua", Path(tmp) / "bodies.jsonl"
        script.write_text(SCRIPT)
        data.write_bytes(b"\n".join(bodies) + b"\n")
        command = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"]
        command += ["--timeout", "10s", "-s", str(script), url, "--", str(data), str(threads)]
        done = subprocess.run(  # noqa: S603 - absolute path, fixed arguments
            command, capture_output=True, text=True, check=False
        )
    match = _RESULT.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed:\n{done.stdout}{done.stderr}")
    created, other, errors, p50, p99, worst, duration = map(int, match.groups())
    return WrkResult(
        connections, duration / 1e6, created, other, errors, p50 / 1e6, p99 / 1e6, worst / 1e6
    )


def body_bytes(body: bytes) -> bytes:
    """One body on one line, as the Lua script reads them."""
    return json.dumps(json.loads(body), separators=(",", ":")).encode()
