"""Write and check a certificate for every row a genbab results CSV answered `unsat`.

python3 results/certificates/certbench.py BENCHMARK_DIR RESULTS_CSV MODEL_FILTER OUT_CSV
(from the repository root, with target/release/genbab built): `verify --certificate` at the
row's VNN-COMP timeout, then `check`, one row at a time; `--resume`-like (rows in OUT_CSV are
skipped)."""
import csv, json, subprocess, sys, time, os
bdir, res, filt, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
G = 'target/release/genbab'
tmo = {(r[0], r[1]): r[2] for r in csv.reader(open(f'{bdir}/instances.csv')) if len(r) >= 3}
rows = [r for r in csv.DictReader(open(res)) if r['result'] == 'unsat' and filt in r['onnx']]
done = set()
if os.path.exists(out):
    for r in csv.reader(open(out)): done.add((r[0], r[1]))
f = open(out, 'a'); w = csv.writer(f)
if not done: w.writerow(['onnx','vnnlib','result','verify_s','certificate_s','leaves','cuts','depth','bytes','check','check_s'])
for r in rows:
    m, v = r['onnx'], r['vnnlib']
    if (m, v) in done: continue
    t = tmo[(m, v)]
    c = '/tmp/cb2.cert'
    if os.path.exists(c): os.remove(c)
    p = subprocess.run([G,'verify',f'{bdir}/{m}',f'{bdir}/{v}','--timeout',t,'--certificate',c,'--json'],capture_output=True,text=True)
    try: j = json.loads(p.stdout.strip().splitlines()[-1])
    except Exception: j = {'result':'error','seconds':0}
    ce = j.get('certificate') or {}
    chk, cs = '', ''
    if ce:
        t0 = time.time()
        q = subprocess.run([G,'check',f'{bdir}/{m}',f'{bdir}/{v}',c],capture_output=True,text=True)
        cs = round(time.time()-t0, 3); chk = q.stdout.strip()
    w.writerow([m, v, j['result'], round(j['seconds'],3), round(ce.get('seconds',0),3), ce.get('leaves',''), ce.get('cuts',''), ce.get('depth',''), ce.get('bytes',''), chk, cs]); f.flush()
    if not ce: print(m, v, j.get('result'), p.stderr.strip()[-200:], flush=True)
