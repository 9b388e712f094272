"""What each column of the drill table may show, and the check `scripts/drill` fails on. The
bounds are stated once, here, and printed under the table (README quotes them):

- lost: 0 in every drill.
- given up: 0, except "disk of one queue full", where it must be more than 0: the disk is sized
  to fill during the outage, and the oldest points of the dead replica's queue are given up,
  counted (influx-a loses nothing).
- dup: 0 (permits keep each slot to one poll, also across hand-overs).
- missed polls: 0, except in drills that stop a collector: at most 2 per target it owned (its
  slots inside the takeover window).
- takeover: at most interval + member_ttl + heartbeat + 1 s (the bound the cluster tests hold);
  "balancer node lost": the virtual IP answering from the other node within 3 s, both when the
  master's balancer is SIGKILLed and when its link is cut.
- failed reqs: 0 (retries and redispatch hide every outage from clients); "balancer node lost":
  at most 6, the requests in flight at the two failovers (three clients; a refused connection
  carried no request and is retried).
- recover: within 240 s in every drill; within 15 s for "a poisoned write" (nothing behind it is
  delayed beyond one retry).
- every drill polled something and acknowledged some client writes (a stack that wrote
  nothing fails); "a poisoned write" set at least one batch aside.
"""

# The edge pair's drill: the virtual IP moves within 3 s; its three clients may each lose the
# one request in flight at each of the two failovers.
EDGE, EDGE_TAKEOVER_S, IN_FLIGHT_AT_FAILOVERS = "balancer node lost", 3.0, 6

# Drills that stop a collector (their missed polls are bounded by the targets it owned).
STOPS_COLLECTOR = ("collector SIGKILLed", "collector restarted gracefully", "disk of one queue full")


def takeover_bound_s(lay) -> float:
    return lay.interval_s + lay.member_ttl_s + lay.heartbeat_s + 1


def violations(row, lay) -> list:
    """Why `row` breaks its bounds ([] when it holds)."""
    out = []

    def need(ok: bool, why: str):
        if not ok:
            out.append(why)

    need(row.lost == 0, f"lost {row.lost} (bound 0)")
    if row.drill.endswith("disk of one queue full"):
        need(row.given_up > 0, "nothing given up: the disk never filled")
    else:
        need(row.given_up == 0, f"given up {row.given_up} (bound 0)")
    need(row.dup == 0, f"{row.dup} duplicated polls (bound 0)")
    allowed = 2 * row.owned if row.drill.endswith(STOPS_COLLECTOR) else 0
    need(row.missed <= allowed, f"{row.missed} missed polls (bound {allowed})")
    if row.takeover_s is not None:
        bound = EDGE_TAKEOVER_S if row.drill.endswith(EDGE) else takeover_bound_s(lay)
        need(row.takeover_s <= bound, f"takeover {row.takeover_s:.1f} s (bound {bound:.0f} s)")
    allowed = IN_FLIGHT_AT_FAILOVERS if row.drill.endswith(EDGE) else 0
    need(row.failed <= allowed, f"{row.failed} failed client requests (bound {allowed})")
    for why in row.edge_broken or []:
        need(False, why)
    recover_bound = 15 if row.drill.endswith("a poisoned write") else 240
    need(row.recover_s is not None and row.recover_s <= recover_bound,
         f"recovery {row.recover} (bound {recover_bound} s)")
    need(row.polled > 0, "no poll points in the window")
    need(row.acked > 0, "no client write acknowledged in the window")
    if row.drill.endswith("a poisoned write"):
        need(row.set_aside > 0, "the poisoned batch was not set aside")
    return out
