# ratio.py FILE: per benchmark pair (sipua, sipgo) in go test -bench output,
# the medians and the median of the paired ratios sipgo/sipua, which cancels
# drift on a noisy machine because the two run back to back.
import re,sys,statistics as st
rows=[l.split() for l in open(sys.argv[1]) if l.startswith('Benchmark')]
d={}
for r in rows:
    name=re.sub(r'-\d+$','',r[0]); d.setdefault(name,[]).append(float(r[2]))
for k in sorted(set(re.sub(r'/(sipua|sipgo)$','',n) for n in d)):
    a=d.get(k+'/sipua'); g=d.get(k+'/sipgo')
    if not a or not g: continue
    ratios=[y/x for x,y in zip(a,g)]
    print(f"{k:32s} sipua median {st.median(a):7.0f} ns  sipgo median {st.median(g):7.0f} ns  ratio-of-medians {st.median(g)/st.median(a):.2f}  median paired ratio {st.median(ratios):.2f}  (min {min(ratios):.2f} max {max(ratios):.2f}, n={len(ratios)})")
