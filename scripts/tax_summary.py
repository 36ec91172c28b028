#!/usr/bin/env python3
"""Summary of tax-design stores: per algorithm, final-window F, final rates, revenue and J spread
(mean and standard error over seeds), as a Markdown table.

Usage: python3 scripts/tax_summary.py STORE.sqlite [STORE.sqlite ...]
"""
import sqlite3, math, json, sys
def se(v):
    m=sum(v)/len(v)
    return m, (math.sqrt(sum((a-m)**2 for a in v)/(len(v)-1)/len(v)) if len(v)>1 else 0.0)
print("| algorithm | seeds | final-window F | income tax | VAT 1 | VAT 2 | VAT 3 | revenue | J spread |")
print("|---|---|---|---|---|---|---|---|---|")
for db in sys.argv[1:]:
    c=sqlite3.connect(db)
    for alg, in c.execute("select distinct algorithm from runs where status='done'"):
        rows=c.execute("select id, window_F, x from runs where algorithm=? and status='done'",(alg,)).fetchall()
        F=se([r[1] for r in rows])
        taus=[[2/(1+math.exp(-w)) for w in json.loads(r[2])] for r in rows]
        t=[se([tt[j] for tt in taus]) for j in range(4)]
        last=[c.execute("select revenue, household_spread from metrics where run_id=? and revenue is not null order by iteration desc limit 1",(r[0],)).fetchone() for r in rows]
        rev=se([l[0] for l in last]); sp=se([l[1] for l in last])
        print(f"| {alg} | {len(rows)} | {F[0]:.2f} ± {F[1]:.2f} | " + " | ".join(f"{m:.3f} ± {s:.3f}" for m,s in t) + f" | {rev[0]:.2f} | {sp[0]:.3f} |")
