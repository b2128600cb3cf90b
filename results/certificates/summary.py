import csv, sys
for name in sys.argv[1:]:
    r = list(csv.DictReader(open(name)))
    ok = [x for x in r if x['check'] == 'valid']
    f = lambda xs, k: sum(float(x[k] or 0) for x in xs)
    v, c, ch = f(r, 'verify_s'), f(r, 'certificate_s'), f(ok, 'check_s')
    vo, co = f(ok, 'verify_s'), f(ok, 'certificate_s')
    b = sorted(int(x['bytes']) for x in ok); l = sorted(int(x['leaves']) for x in ok)
    med = lambda a: a[len(a)//2] if a else 0
    print(f"{name.split('/')[-1]}: {len(r)} unsat rows, {len(ok)} certificates written and valid; "
          f"verify {v:.1f} s summed (search {v-c:.1f} s + certificates {c:.1f} s); on the valid rows: verify {vo:.1f} s, search {vo-co:.1f} s, check {ch:.1f} s "
          f"(check/verify {ch/vo:.2f}, check/search {ch/max(vo-co,1e-9):.2f}); bytes sum {sum(b)}, median {med(b)}, max {max(b) if b else 0}; leaves median {med(l)}, max {max(l) if l else 0}")
