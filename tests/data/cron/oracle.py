#!/usr/bin/env python3
# An independent, brute-force model of Ratchet's cron semantics (docs/cron.md), used to derive
# and cross-check the expected fire times in this folder. It shares no code or method with
# src/queue/cron.c: it enumerates matching local wall times day by day and resolves each with
# Python's zoneinfo (fold=0/1), applying the documented gap and overlap rules. Not run by
# `make test`; use it when adding a case:
#
#     python3 tests/data/cron/oracle.py '30 2 * * *' Europe/Berlin 2024-03-29T00:00:00Z 4
#
# It assumes a valid expression (no error messages) and is slow for sparse schedules.
import calendar, sys, json, re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo
UTC = timezone.utc
MON = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
DOW = "SUN MON TUE WED THU FRI SAT".split()
MACROS = {"@yearly": "0 0 0 1 1 *", "@annually": "0 0 0 1 1 *", "@monthly": "0 0 0 1 * *",
          "@weekly": "0 0 0 * * 0", "@daily": "0 0 0 * * *", "@midnight": "0 0 0 * * *",
          "@hourly": "0 0 * * * *"}

def val(tok, lo, hi, names, base):
    if tok.isdigit():
        v = int(tok)
    else:
        v = [n.upper() for n in names].index(tok.upper()) + base
    assert lo <= v <= hi, tok
    return v

def field(tok, lo, hi, names=None, base=0, dow=False):
    """returns (set, specials)"""
    s = set(); sp = []
    span = 7 if dow else hi - lo + 1
    top = 6 if dow else hi
    for item in tok.split(","):
        if item == "?":
            s |= set(range(lo, top + 1)); continue
        m = re.fullmatch(r"(?i)L(-(\d+))?", item)
        if m and not dow:
            sp.append(("L", int(m.group(2) or 0))); continue
        if item.upper() == "LW": sp.append(("LW", 0)); continue
        m = re.fullmatch(r"(?i)(\d+)W", item)
        if m and not dow: sp.append(("W", int(m.group(1)))); continue
        m = re.fullmatch(r"(?i)(\w+?)L", item)
        if m and dow: sp.append(("dL", val(m.group(1), 0, 7, names, 0) % 7)); continue
        m = re.fullmatch(r"(\w+)#(\d)", item)
        if m and dow: sp.append(("#", val(m.group(1), 0, 7, names, 0) % 7, int(m.group(2)))); continue
        step = 1; stepped = "/" in item
        if stepped:
            item, st = item.split("/"); step = int(st)
        if item == "*":
            a, b = lo, top
        elif "-" in item:
            x, y = item.split("-"); a = val(x, lo, hi, names, base); b = val(y, lo, hi, names, base)
        else:
            a = val(item, lo, hi, names, base); b = top if stepped else a
            if dow and not stepped and a == 7: b = 0
            if dow and stepped and a == 7: b = 7
        if dow and a == 7: a = 0
        cnt = b - a if b >= a else b - a + span
        for k in range(0, cnt + 1, step):
            v = lo + (a - lo + k) % span
            s.add(v % 7 if dow else v)
    return s, sp

class Cron:
    def __init__(self, expr):
        expr = expr.strip()
        if expr.startswith("@"):
            expr = MACROS[expr.lower()]
        t = expr.split()
        if len(t) == 5: t = ["0"] + t
        if len(t) == 6: t = t + ["*"]
        self.sec, _ = field(t[0], 0, 59); self.min, _ = field(t[1], 0, 59); self.hour, _ = field(t[2], 0, 23)
        self.dom, self.domsp = field(t[3], 1, 31)
        self.mon, _ = field(t[4], 1, 12, MON, 1)
        self.dow, self.dowsp = field(t[5], 0, 7, DOW, 0, True)
        self.year, _ = field(t[6], 1970, 2199)
        self.domstar = t[3].startswith("*") or t[3] == "?"
        self.dowstar = t[5].startswith("*") or t[5] == "?"
        self.periodic = any(x.startswith("*") for x in (t[0] if len(expr.split()) != 5 else "0", t[1], t[2]))
    def day(self, y, m, d):
        dim = calendar.monthrange(y, m)[1]
        wd = (calendar.weekday(y, m, d) + 1) % 7
        def wdof(dd): return (calendar.weekday(y, m, dd) + 1) % 7
        def near(n):
            w = wdof(n)
            if w == 6: return n - 1 if n > 1 else n + 2
            if w == 0: return n + 1 if n < dim else n - 2
            return n
        dom = d in self.dom
        for sp in self.domsp:
            if sp[0] == "L" and d == dim - sp[1]: dom = True
            if sp[0] == "LW":
                w = wdof(dim)
                if d == (dim - 1 if w == 6 else dim - 2 if w == 0 else dim): dom = True
            if sp[0] == "W" and sp[1] <= dim and near(sp[1]) == d: dom = True
        dow = wd in self.dow
        for sp in self.dowsp:
            if sp[0] == "dL" and wd == sp[1] and d + 7 > dim: dow = True
            if sp[0] == "#" and wd == sp[1] and (d - 1) // 7 + 1 == sp[2]: dow = True
        if self.domstar or self.dowstar: return dom and dow
        return dom or dow

def local_of(t, z):
    return datetime.fromtimestamp(t, z).replace(tzinfo=None)

def fires(c, z, after, n, max_days=200 * 366):
    out = set()
    start = local_of(after, z).date() - timedelta(days=2)
    d = start
    for _ in range(max_days):
        if d.year > 2199: break
        if d.year in c.year and d.month in c.mon and c.day(d.year, d.month, d.day):
            for h in sorted(c.hour):
                for mi in sorted(c.min):
                    for s in sorted(c.sec):
                        W = datetime(d.year, d.month, d.day, h, mi, s)
                        u0 = int(W.replace(tzinfo=z, fold=0).timestamp())
                        u1 = int(W.replace(tzinfo=z, fold=1).timestamp())
                        ok0 = local_of(u0, z) == W; ok1 = local_of(u1, z) == W
                        if not ok0 and not ok1:  # gap
                            if c.periodic: continue
                            lo, hi = min(u0, u1) - 86400, max(u0, u1) + 86400
                            while hi - lo > 1:
                                mid = (lo + hi) // 2
                                if local_of(mid, z) > W: hi = mid
                                else: lo = mid
                            cand = [hi]
                        elif u0 != u1 and ok0 and ok1:
                            cand = [min(u0, u1)] if not c.periodic else [u0, u1]
                        else:
                            cand = [u0 if ok0 else u1]
                        for u in cand:
                            if u > after: out.add(u)
        if len([u for u in out]) >= n and d > local_of(sorted(out)[n - 1], z).date() + timedelta(days=2):
            break
        d += timedelta(days=1)
    return sorted(out)[:n]

def iso(t): return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

if __name__ == "__main__":
    expr, tz, frm, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    z = ZoneInfo(tz)
    after = int(datetime.fromisoformat(frm.replace("Z", "+00:00")).timestamp())
    for t in fires(Cron(expr), z, after, n): print(iso(t))
