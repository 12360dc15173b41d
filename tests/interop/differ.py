#!/usr/bin/python3
"""Differential DNS tester: send the same queries to a reference (NSD) and a candidate
(enumd) and compare the answers.  Needs dnspython (Debian: python3-dnspython).

Subcommands:
  free-ports K                  print K TCP+UDP ports that are free on 127.0.0.1
  wait --server H:P --name N    poll N/SOA until the server answers NOERROR with AA (give up
                                after --timeout seconds, or at once when --pid has exited)
  compare --a H:P --b H:P --manifest FILE --queries N --seed S
                                draw N queries from the generator's pools, send each over UDP
                                (and a share also over TCP) to A (reference) and B (candidate),
                                print the first differences in detail and the closing line
                                "Q queries, D differences"; exit 1 if D > 0.

What must be equal (per query): rcode including the extended rcode from OPT; the header
flags QR AA TC RD RA AD CD and the opcode; presence of OPT, its version and the DO bit; the
question, case-sensitively, and it must be the client's own spelling (0x20); the answer and
authority sections as multisets of RRs (owner lower-cased, class, type, TTL, canonical rdata:
duplicates and TTLs that differ inside an RRset are caught); answer owners equal to the qname
(ignoring case) must carry the client's spelling.  For referrals the in-domain glue (A/AAAA of
NS names inside the delegated subtree) must be the same and complete.

Not compared, because the RFCs leave it open (see the project's shared/REFERENCE-SERVERS.md):
  * the additional section otherwise (sibling glue is a SHOULD, RFC 9471 §3.2; address
    records of the apex NS are optional, RFC 1034 §4.3.2 step 6);
  * sections of truncated responses (TC=1 on both sides): NSD sends them empty, other
    servers may fill what fits (RFC 2181 §9);
  * EDNS options (NSD adds Extended DNS Error 20 to REFUSED, RFC 8914 makes it optional)
    and the advertised UDP payload;
  * owner spelling in authority/additional and name case inside rdata (RFC 4343).
NSD runs with minimal-responses, so it adds no apex NS to the authority section of positive
answers (RFC 2181 §6.1/RFC 1034 make it optional) and the authority sections compare directly.

Tolerated, and counted separately: NSD answers a UDP referral whose in-domain glue does not
fit by dropping glue silently with TC=0; RFC 9471 §3.1 requires TC=1.  When the reference
does that and the candidate sets TC=1, the query counts as tolerated.  The candidate itself
must never send a referral with incomplete in-domain glue and TC=0 (unless --b-is-nsd, for
the harness's NSD-vs-NSD self-test).
"""

import argparse
import collections
import concurrent.futures
import json
import os
import random
import socket
import sys
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

TIMEOUT = 2.0  # seconds per try
TRIES = 3  # the first try and 2 retries
COMPARED_FLAGS = (dns.flags.QR | dns.flags.AA | dns.flags.TC | dns.flags.RD | dns.flags.RA
                  | dns.flags.AD | dns.flags.CD)

# Query kinds: (kind, pool in manifest.json, weight, qtypes other than the pool's default,
# share of queries that use one of those other qtypes).  Weights are relative; about 100.
KINDS = [
    ("hit", "hit", 20, [], 0.0),
    ("hit_multi", "hit_multi", 6, [], 0.0),
    ("nodata_num", "hit", 8, ["A", "AAAA", "TXT", "SRV", "MX", "NS", "SOA", "CNAME", "PTR", "CAA", 65400], 1.0),
    ("txt", "txt", 1.5, ["NAPTR"], 0.5),
    ("big", "hit_big", 1.5, ["A"], 0.1),
    ("huge", "hit_huge", 0.3, [], 0.0),
    ("wild", "wild", 8, ["A", "AAAA", "TXT", "CNAME", "NS"], 0.2),
    ("wild_literal", "wild_literal", 0.5, ["A", "CNAME"], 0.2),
    ("pilot_explicit", "pilot_explicit", 2, ["A", "TXT"], 0.2),
    ("pilot_ent", "pilot_ent", 3, ["A", "CNAME", "NS"], 0.2),
    ("pilot_ent_nx", "pilot_ent_nx", 3, ["A", "CNAME"], 0.2),
    ("ent", "ent", 4, ["A", "NS", "SOA"], 0.2),
    ("nx", "nx", 10, ["A", "AAAA", "TXT", "CNAME"], 0.2),
    ("nx_below", "nx_below", 2, ["A"], 0.2),
    ("cut", "cut", 2.5, ["NS", "A", "SOA", "TXT", "CNAME"], 0.5),
    ("below_cut", "below_cut", 3.5, ["NS", "A", "SOA"], 0.2),
    ("occluded", "occluded", 0.5, ["A"], 0.2),
    ("glue", "glue", 1.5, ["AAAA", "NAPTR", "NS"], 0.5),
    ("bigglue", "bigglue", 1, ["NS", "A"], 0.3),
    ("apex", "apex", 2.5, [], 0.0),
    ("apex_host", "apex_host", 0.5, ["NAPTR", "TXT"], 0.2),
    ("nondigit", "nondigit", 3, ["A", "AAAA", "TXT", "NAPTR", "SRV", "MX"], 0.2),
    ("cname", "cname", 6, ["CNAME", "CNAME", "A", "TXT"], 0.4),
    ("cname_wild", "cname_wild", 2, ["CNAME", "A"], 0.4),
    ("oz", "oz", 3, ["NAPTR", "A", "SOA"], 0.2),
]
# Kinds whose responses are built to exceed 512 bytes: they get small or no EDNS more often,
# to force TC, and (huge) TCP more often, to compare the full answer.
TC_KINDS = {"big", "huge", "bigglue"}


def parse_hostport(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


# ---------------------------------------------------------------------------------------------
# query generation (deterministic for a seed)

def randomize_case(name, rng):
    """0x20: random letter case per character (digit labels are unaffected)."""
    return "".join(c.upper() if c.isalpha() and rng.random() < 0.5 else c for c in name)


def make_specs(manifest, count, seed, tcp_share):
    """Return `count` query specs: dicts with kind, qname, qtype, edns (None or
    (version, payload, do)) and tcp (also send over TCP)."""
    rng = random.Random(seed)
    pools = manifest["pools"]
    weights = [k[2] for k in KINDS]
    specs = []
    for _ in range(count):
        kind, pool, _w, others, other_share = rng.choices(KINDS, weights)[0]
        name, qtype = rng.choice(pools[pool])
        if others and rng.random() < other_share:
            qtype = rng.choice(others)
        r = rng.random()
        if kind in TC_KINDS and r < 0.5:
            edns = None if r < 0.3 else (0, 512, False)  # forces TC (or, for NSD, dropped glue)
        elif r < 0.3:
            edns = None  # plain DNS: 512-byte limit
        elif r < 0.31:
            edns = (1, 1232, False)  # unsupported version: BADVERS (RFC 6891 §6.1.3)
        else:
            payload = rng.choices([4096, 1232, 512, 1400, 256, 65535], [30, 30, 15, 10, 5, 5])[0]
            edns = (0, payload, rng.random() < 0.05)  # DO must be copied (RFC 3225 §3)
        tcp = rng.random() < (0.5 if kind == "huge" else tcp_share)
        specs.append({"kind": kind, "qname": randomize_case(name, rng), "qtype": qtype,
                      "edns": edns, "tcp": tcp})
    return specs


def build_query(spec):
    q = dns.message.make_query(spec["qname"], spec["qtype"], use_edns=False)
    q.flags = 0  # RD=0: an authoritative server is asked iteratively
    if spec["edns"] is not None:
        version, payload, do = spec["edns"]
        # set explicitly: make_query(use_edns=1) ignores the version in some dnspython releases
        q.use_edns(version, dns.flags.DO if do else 0, payload)
    return q


def describe_spec(spec, transport):
    e = spec["edns"]
    edns = "no EDNS" if e is None else f"EDNS v{e[0]} payload {e[1]}{' DO' if e[2] else ''}"
    return f"{spec['qname']} {dns.rdatatype.to_text(dns.rdatatype.RdataType.make(spec['qtype']))} " \
           f"[{spec['kind']}, {transport}, {edns}]"


# ---------------------------------------------------------------------------------------------
# sending

def ask(q, server, transport):
    """Send q; return (Message, None) or (None, error text).  TIMEOUT per try, TRIES tries."""
    host, port = server
    err = None
    for _ in range(TRIES):
        try:
            if transport == "udp":
                # a fresh socket per try; a reply that does not match the query (id, question
                # ignoring case) raises and is reported, rather than waited out as a timeout
                r = dns.query.udp(q, host, port=port, timeout=TIMEOUT, one_rr_per_rrset=True,
                                  raise_on_truncation=False)
            else:
                r = dns.query.tcp(q, host, port=port, timeout=TIMEOUT, one_rr_per_rrset=True)
            return r, None
        except dns.exception.Timeout:
            err = f"no answer in {TIMEOUT:g}s ({TRIES} tries)"
        except (OSError, EOFError, ConnectionError) as e:
            err = f"{type(e).__name__}: {e}"
        except dns.exception.DNSException as e:  # malformed or mismatched response: no retry
            return None, f"{type(e).__name__}: {e}"
    return None, err


# ---------------------------------------------------------------------------------------------
# comparing

def rr_items(section):
    """Section -> Counter of (owner lower-cased, class, type, TTL, canonical rdata)."""
    c = collections.Counter()
    for rrset in section:  # one RR per RRset (one_rr_per_rrset=True)
        owner = rrset.name.to_text().lower()
        for rd in rrset:
            c[(owner, rrset.rdclass, rrset.rdtype, rrset.ttl, rd.to_digestable())] += 1
    return c


def rr_text(item):
    owner, rdclass, rdtype, ttl, wire = item
    rd = dns.rdata.from_wire(rdclass, rdtype, wire, 0, len(wire))
    return f"{owner} {ttl} {dns.rdataclass.to_text(rdclass)} {dns.rdatatype.to_text(rdtype)} {rd.to_text()}"


def referral_owner(r, apex):
    """Owner of the delegation if r is a referral (possibly after a CNAME), else None."""
    if r.rcode() != dns.rcode.NOERROR:
        return None
    for rrset in r.authority:
        if rrset.rdtype == dns.rdatatype.NS and rrset.name.to_text().lower() != apex:
            return rrset.name.to_text().lower()
    return None


def in_domain_glue(r, owner):
    """A/AAAA in the additional section for NS names of the referral that lie inside the
    delegated subtree (RFC 9471 §2.1 in-domain glue), as a Counter like rr_items()."""
    cut = dns.name.from_text(owner)
    targets = set()
    for rrset in r.authority:
        if rrset.rdtype == dns.rdatatype.NS and rrset.name.to_text().lower() == owner:
            for rd in rrset:
                if rd.target.is_subdomain(cut):
                    targets.add(rd.target.to_text().lower())
    glue = collections.Counter()
    for item, n in rr_items(r.additional).items():
        if item[2] in (dns.rdatatype.A, dns.rdatatype.AAAA) and item[0] in targets:
            glue[item] = n
    return glue


def glue_missing(glue, required):
    """Required in-domain glue (owner, type, rdata) absent from glue."""
    have = {(o, t, w) for (o, _c, t, _ttl, w) in glue}
    return [x for x in required if x not in have]


_required_cache = {}


def required_glue(manifest, owner):
    """The zone's in-domain glue for the delegation at owner, from the generator's manifest."""
    if owner not in _required_cache:
        _required_cache[owner] = [
            (o, dns.rdatatype.from_text(t), dns.rdata.from_text("IN", t, v).to_digestable())
            for o, t, v in manifest["glue"].get(owner, [])]
    return _required_cache[owner]


def spelling_errors(r, q):
    """The question must be echoed exactly (RFC 1035 §4.1.2; 0x20 clients check the case), and
    answer owners equal to the qname must keep the client's spelling too."""
    errs = []
    qq = q.question[0]
    if len(r.question) != 1 or r.question[0].name.to_text() != qq.name.to_text() \
            or r.question[0].rdtype != qq.rdtype or r.question[0].rdclass != qq.rdclass:
        errs.append(f"question echo {[x.to_text() for x in r.question]} != client's {qq.to_text()}")
    for rrset in r.answer:
        if rrset.name == qq.name and rrset.name.to_text() != qq.name.to_text():
            errs.append(f"answer owner {rrset.name.to_text()} != client's spelling {qq.name.to_text()}")
            break
    return errs


def summarize(r, err, max_additional=6):
    """A response as indented text lines: header, then AN/NS/AR records (AR shortened)."""
    if r is None:
        return [f"    ERROR {err}"]
    flags = dns.flags.to_text(r.flags & COMPARED_FLAGS) or "-"
    opt = "no OPT" if r.edns < 0 else f"OPT v{r.edns}{' DO' if r.ednsflags & dns.flags.DO else ''}"
    lines = [f"    {dns.rcode.to_text(r.rcode())} flags [{flags}] {opt} "
             f"question {[q.to_text() for q in r.question]}"]
    for title, sec in (("AN", r.answer), ("NS", r.authority), ("AR", r.additional)):
        for rrset in sec:
            for line in rrset.to_text().splitlines():
                lines.append(f"    {title} {line}")
    n_ar = len(r.additional)
    if n_ar > max_additional:
        lines = lines[: len(lines) - n_ar + max_additional]
        lines.append(f"    AR ... {n_ar - max_additional} more")
    return lines


def counter_diff(ca, cb):
    only_a = [rr_text(x) for x in (ca - cb).elements()]
    only_b = [rr_text(x) for x in (cb - ca).elements()]
    return f"only A {only_a}, only B {only_b}"


def compare(spec, transport, a, b, manifest, b_is_nsd):
    """Send one query to A and B and compare.  Returns (problems, tolerated note or None,
    response A, error A, response B, error B)."""
    q = build_query(spec)
    apex = manifest["apex"]
    ra, ea = ask(q, a, transport)
    rb, eb = ask(q, b, transport)
    if ra is None or rb is None:
        probs = [f"{side}: {e}" for side, r, e in (("A", ra, ea), ("B", rb, eb)) if r is None]
        return probs, None, ra, ea, rb, eb
    probs = []
    for side, r in (("A", ra), ("B", rb)):
        probs += [f"{side}: {e}" for e in spelling_errors(r, q)]
    if ra.rcode() != rb.rcode():  # rcode() includes the extended bits from OPT (BADVERS)
        probs.append(f"rcode {dns.rcode.to_text(ra.rcode())} != {dns.rcode.to_text(rb.rcode())}")
    if ra.opcode() != rb.opcode():
        probs.append(f"opcode {ra.opcode()} != {rb.opcode()}")
    fa, fb = ra.flags & COMPARED_FLAGS, rb.flags & COMPARED_FLAGS
    tc_a, tc_b = bool(fa & dns.flags.TC), bool(fb & dns.flags.TC)
    if (fa & ~dns.flags.TC) != (fb & ~dns.flags.TC):
        probs.append(f"flags [{dns.flags.to_text(fa)}] != [{dns.flags.to_text(fb)}]")
    if ra.edns != rb.edns:
        probs.append(f"OPT presence/version {ra.edns} != {rb.edns} (-1: no OPT)")
    elif (ra.ednsflags & dns.flags.DO) != (rb.ednsflags & dns.flags.DO):
        probs.append("DO bit in OPT differs (RFC 3225 §3: copy it)")

    # Referral glue (RFC 9471): the delegation owner, the glue the zone has for it, and what
    # each side sent of it.
    owner = referral_owner(ra, apex) if not tc_a else None
    owner = owner or (referral_owner(rb, apex) if not tc_b else None)
    if owner:
        required = required_glue(manifest, owner)
        a_glue, b_glue = in_domain_glue(ra, owner), in_domain_glue(rb, owner)
        a_short = not tc_a and bool(glue_missing(a_glue, required))
        b_short = not tc_b and bool(glue_missing(b_glue, required))

    if tc_a != tc_b:
        if owner and a_short and tc_b:
            # NSD drops in-domain glue that does not fit and leaves TC=0, where RFC 9471 §3.1
            # requires TC=1, as the candidate did: tolerated; the sections are not comparable.
            return probs, "reference dropped in-domain glue with TC=0, candidate set TC=1 (RFC 9471 §3.1)", \
                ra, ea, rb, eb
        probs.append(f"TC {int(tc_a)} != {int(tc_b)}")
        return probs, None, ra, ea, rb, eb
    if tc_a:
        return probs, None, ra, ea, rb, eb  # truncated on both sides: sections not compared

    for title, sa, sb in (("answer", ra.answer, rb.answer), ("authority", ra.authority, rb.authority)):
        ca, cb = rr_items(sa), rr_items(sb)
        if ca != cb:
            probs.append(f"{title} differs: {counter_diff(ca, cb)}")
    tolerated = None
    if owner:
        if b_short and not b_is_nsd:
            missing = len(glue_missing(b_glue, required))
            probs.append(f"B: referral with TC=0 lacks {missing} in-domain glue RRs (RFC 9471 §3.1 requires TC=1)")
        elif a_short and not b_short:
            tolerated = "reference dropped in-domain glue with TC=0, candidate sent all of it"
        elif a_glue != b_glue:
            probs.append(f"in-domain glue differs: {counter_diff(a_glue, b_glue)}")
    return probs, tolerated, ra, ea, rb, eb


def cmd_compare(args):
    with open(args.manifest) as f:
        manifest = json.load(f)
    a, b = parse_hostport(args.a), parse_hostport(args.b)
    specs = make_specs(manifest, args.queries, args.seed, args.tcp_share)
    jobs = [(s, "udp") for s in specs] + [(s, "tcp") for s in specs if s["tcp"]]
    differences = []  # (query description, [what differs], summary A, summary B)
    tolerated = collections.Counter()
    kinds = collections.Counter()
    t0 = time.monotonic()

    def run(job):
        """One query on both servers; keeps only summaries of differing responses."""
        spec, transport = job
        try:
            probs, tol, ra, ea, rb, eb = compare(spec, transport, a, b, manifest, args.b_is_nsd)
        except Exception as e:  # a bug in the differ must show up as a difference, not pass
            probs, tol, ra, ea, rb, eb = [f"differ error: {type(e).__name__}: {e}"], None, None, "", None, ""
        if not probs:
            return spec, None, tol
        return spec, (describe_spec(spec, transport), probs, summarize(ra, ea), summarize(rb, eb)), tol

    # pool.map keeps the input order, so the printed differences are deterministic too
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        for spec, diff, tol in pool.map(run, jobs):
            kinds[spec["kind"]] += 1
            if tol:
                tolerated[tol] += 1
            if diff:
                differences.append(diff)
    elapsed = time.monotonic() - t0
    for i, (desc, probs, sa, sb) in enumerate(differences[: args.show]):
        print(f"--- difference {i + 1}: {desc}")
        for p in probs:
            print(f"  {p}")
        print(f"  A ({args.a_label}):")
        print("\n".join(sa))
        print(f"  B ({args.b_label}):")
        print("\n".join(sb))
    if len(differences) > args.show:
        print(f"--- ({len(differences) - args.show} more differences not shown)")
    n_tcp = sum(1 for _, t in jobs if t == "tcp")
    print(f"interop: {len(specs)} UDP + {n_tcp} TCP queries to each server in {elapsed:.1f}s; by kind: "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    for why, n in sorted(tolerated.items()):
        print(f"interop: tolerated {n}: {why}")
    print(f"{len(jobs)} queries, {len(differences)} differences")
    return 1 if differences else 0


# ---------------------------------------------------------------------------------------------
# helpers for tests/interop.sh

def free_ports(count):
    """`count` ports free for both UDP and TCP on 127.0.0.1 (the OS picks; we check the other
    protocol), or fewer if 100 tries do not find them."""
    ports, held = [], []
    for _ in range(100):  # bounded
        if len(ports) == count:
            break
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            t.close()
            u.close()
            continue
        held += [t, u]  # keep until all are chosen, so the same port is not handed out twice
        ports.append(port)
    for s in held:
        s.close()
    return ports


def cmd_free_ports(args):
    """Ports free for both UDP and TCP on 127.0.0.1, printed on one line."""
    ports = free_ports(args.count)
    if len(ports) < args.count:
        print("free-ports: could not find free ports", file=sys.stderr)
        return 1
    print(" ".join(map(str, ports)))
    return 0


def cmd_wait(args):
    """Poll the apex SOA until the server answers authoritatively; never a fixed sleep."""
    server = parse_hostport(args.server)
    deadline = time.monotonic() + args.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if args.pid:
            try:
                os.kill(args.pid, 0)
            except ProcessLookupError:
                print(f"wait: {args.label} (pid {args.pid}) exited before answering", file=sys.stderr)
                return 1
        q = dns.message.make_query(args.name, "SOA")
        q.flags = 0
        try:
            r = dns.query.udp(q, server[0], port=server[1], timeout=0.5, ignore_unexpected=True)
            if r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA and r.answer:
                return 0
            last = f"{dns.rcode.to_text(r.rcode())}, flags {dns.flags.to_text(r.flags)}"
        except dns.exception.Timeout:
            last = "no answer"
            continue  # the timeout itself paced the loop
        except OSError as e:
            last = str(e)
        time.sleep(0.1)  # poll interval after a quick negative answer or an ICMP error
    print(f"wait: {args.label} at {args.server} did not answer {args.name} SOA authoritatively "
          f"within {args.timeout:g}s (last: {last})", file=sys.stderr)
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("compare", help="run the differential queries")
    p.add_argument("--a", required=True, help="reference server HOST:PORT (NSD)")
    p.add_argument("--b", required=True, help="candidate server HOST:PORT (enumd)")
    p.add_argument("--a-label", default="nsd")
    p.add_argument("--b-label", default="enumd")
    p.add_argument("--b-is-nsd", action="store_true",
                   help="the candidate is NSD too (self-test): allow NSD's glue dropping on B")
    p.add_argument("--manifest", required=True)
    p.add_argument("--queries", type=int, default=20000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tcp-share", type=float, default=0.05, help="share also sent over TCP")
    p.add_argument("--concurrency", type=int, default=32, help="queries in flight")
    p.add_argument("--show", type=int, default=20, help="differences printed in detail")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("free-ports", help="print free TCP+UDP ports on 127.0.0.1")
    p.add_argument("count", type=int)
    p.set_defaults(func=cmd_free_ports)
    p = sub.add_parser("wait", help="wait until a server answers the apex SOA")
    p.add_argument("--server", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--pid", type=int, default=0, help="give up early when this process exits")
    p.add_argument("--label", default="server")
    p.set_defaults(func=cmd_wait)
    args = ap.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
