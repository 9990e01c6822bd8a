#!/usr/bin/env python3
"""Turn the "ITR-BENCH vm_tbl_*" lines of bench/vm/table.sh (a vmtest console
log) into one table per kernel and ruleset: ns per packet (median of the
rounds), the ratio to no tracing, the spread of the rounds, the tracer's CPU
time per packet, and every backend's start-up and teardown.

    bench/vm/table.py CONSOLE_LOG [KERNEL_LABEL]

Targets (issue 15): a non-matching packet at most 1.05x; a traced packet,
reader included, at most half the extra cost of TRACE + syslog; start-up and
teardown under 1 s of guest time.
"""
import re
import statistics
import sys
from collections import defaultdict

KV = re.compile(r'(\w+)=("[^"]*"|\S+)')


def fields(line):
    return {k: v.strip('"') for k, v in KV.findall(line)}


def med(xs):
    return statistics.median(xs) if xs else None


def main():
    path = sys.argv[1]
    label = sys.argv[2] if len(sys.argv) > 2 else ''
    conf = {}
    batches = defaultdict(list)            # (rs, mode) -> [ns_per_pkt]
    cpu = defaultdict(list)                # (rs, mode) -> [tracer ns per pkt]
    starts = defaultdict(list)             # (rs, mode) -> [ms]
    stops = defaultdict(list)
    stopinfo = defaultdict(list)           # (rs, mode) -> [(events, lost, lines)]
    steps = defaultdict(list)              # (rs, mode, step) -> [ms]
    anchors = defaultdict(list)
    summary = defaultdict(list)            # (rs, mode) -> [(events, lost)] from the tool's summary
    order = []
    with open(path, errors='replace') as f:
        for line in f:
            i = line.find('ITR-BENCH vm_tbl_')
            if i < 0:
                continue
            line = line[i:].strip()
            kind = line.split()[1]
            d = fields(line)
            if kind == 'vm_tbl_conf':
                conf = d
                continue
            key = (d.get('ruleset'), d.get('mode'))
            if kind == 'vm_tbl_batch':
                if key not in order:
                    order.append(key)
                n = int(d['pkts'])
                batches[key].append(int(d['ns_per_pkt']))
                cpu[key].append(int(d['tracer_cpu_ns']) / n)
            elif kind == 'vm_tbl_start':
                starts[key].append(int(d['ms']))
            elif kind == 'vm_tbl_stop':
                stops[key].append(int(d['ms']))
                stopinfo[key].append((int(d.get('events') or 0), int(d.get('lost') or 0), int(d.get('lines') or 0)))
            elif kind == 'vm_tbl_summary':
                # the tool's own count ("iptables-trace: events N, lost M;"), not the
                # per-source counts that follow it on the same line
                m = re.search(r'iptables-trace: events (\d+), lost (\d+)', line)
                if m:
                    summary[key].append((int(m.group(1)), int(m.group(2))))
            elif kind == 'vm_tbl_step':
                steps[key + (d['step'],)].append(float(d['ms']))
            elif kind == 'vm_tbl_anchor':
                anchors[key].append(d)
    if not batches:
        print(f'no vm_tbl results in {path}')
        return 1
    print(f"per-packet cost {label} (kernel {conf.get('kernel', '?')}, icount {conf.get('icount', '?')}, "
          f"{conf.get('rounds', '?')} rounds x {conf.get('pkts', '?')} datagrams; guest ns; ratio = mode / none)")
    for rs in dict.fromkeys(k[0] for k in order):
        base = med(batches[(rs, 'none')])
        syslog = med(batches.get((rs, 'trace_syslog'), []))
        monitor = med(batches.get((rs, 'nft_monitor'), []))
        print(f'\n  ruleset {rs}')
        print(f"  {'mode':<16} {'ns/pkt':>9} {'ratio':>7} {'rounds (ns/pkt)':<24} {'tracer ns/pkt':>13}  notes")
        for r, mode in order:
            if r != rs:
                continue
            xs = batches[(rs, mode)]
            m = med(xs)
            note = []
            if mode.endswith(':nomatch'):
                note.append('target <= 1.05: ' + ('met' if m / base <= 1.05 else 'missed'))
            if mode.endswith(':all') or mode.endswith(':all_notext'):
                ev = summary.get((rs, mode)) or stopinfo.get((rs, mode), [])
                if ev:
                    e = sum(x[0] for x in ev)
                    lo = sum(x[1] for x in ev)
                    note.append(f'events {e}, lost {lo}')
                if syslog:
                    half = 0.5 * (syslog - base)
                    note.append('extra <= half of TRACE+syslog\'s: ' + ('met' if m - base <= half else 'missed'))
                elif monitor:
                    note.append(f'extra = {(m - base) / (monitor - base):.2f}x nft monitor trace\'s')
            for a in anchors.get((rs, mode), []):
                note.append(' '.join(f'{k}={v}' for k, v in a.items() if k not in ('ruleset', 'mode')))
                break
            c = med(cpu[(rs, mode)])
            print(f"  {mode:<16} {m:>9.0f} {m / base:>7.3f} {','.join(str(x) for x in xs):<24} "
                  f"{(f'{c:.0f}' if c else '-'):>13}  {'; '.join(note)}")
        lc = [(k[1], starts[k], stops[k]) for k in starts if k[0] == rs]
        if lc:
            print(f"\n  {'start-up / teardown':<16} {'launch->ready ms':>24} {'SIGINT->exit ms':>24}  (target < 1000 ms each)")
            for mode, s, t in lc:
                print(f"  {mode:<16} {','.join(map(str, s)):>24} {','.join(map(str, t)):>24}")
        st = [(k[1], k[2], med(v)) for k, v in steps.items() if k[0] == rs]
        if st:
            print(f"\n  start-up steps (-v, median ms of guest time)")
            for mode in dict.fromkeys(x[0] for x in st):
                print(f"  {mode}: " + '; '.join(f'{s} {ms:g}' for mo, s, ms in st if mo == mode))
    return 0


if __name__ == '__main__':
    sys.exit(main())
