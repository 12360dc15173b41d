#!/usr/bin/python3
"""Generate a realistic ENUM zone (apex 4.4.e164.arpa.) for the NSD-vs-enumd interop test.

Standard library only; the output depends only on (--numbers, --seed).

Writes into --out-dir:
  zone.db        the master file (RFC 1035 syntax, deliberately varied: $ORIGIN changes, $TTL
                 changes, relative/absolute owners, '@', omitted owners, TTL/class in both
                 orders, parentheses, comments, escapes in character-strings)
  manifest.json  query pools: for each kind of name (hit, wildcard, ENT, NXDOMAIN, referral,
                 CNAME case, ...) a list of [name, default qtype]; differ.py draws its queries
                 from these pools, so the generator is the single place that knows what exists.

Zone contents (see tests/interop/README.md for the expected answers):
  * apex SOA (TTL 3600, MINIMUM 300 so that the negative TTL min(TTL, MINIMUM) = 300 is
    visible), NS ns1.4.4.e164.arpa. (in zone, A+AAAA) and an out-of-zone NS, MX, TXT;
  * N explicit 12-digit numbers (+44 and 10 digits), NAPTR E2U+sip; some with a second NAPTR
    (E2U+pstn:tel with ;npdi;rn=), some with 3-4 NAPTRs of different order/preference, a few
    with TXT, a few "big" ones (> 512 bytes, so TC without EDNS) and two "huge" ones
    (> 1232 bytes, so TC over UDP whatever the client's payload);
  * PBX pilots: '*.<8-digit pilot>' NAPTR with a back-reference regexp; under some pilots
    explicit numbers too (a 10-digit extension d.d.<pilot> and 12-digit numbers), which
    create empty non-terminals that block the wildcard (RFC 4592 §2.2.2);
  * one pilot with a wildcard CNAME '*.<pilot2>';
  * delegations to Tier-3 (8-digit prefixes, 2 NS each): in-subtree glue, out-of-zone NS
    names, mixed, sibling NS names, one with so much glue that it does not fit in 512
    bytes; a few occluded records below cuts;
  * non-digit names (www, mail, sip, _sip._udp SRV, foo.5.5.4.4.e164.arpa.);
  * CNAMEs: to a number, to a wildcard-synthesized name, to a nonexistent in-zone name,
    loops of one, two and three names,
    out of zone, to a name below a cut, to an empty non-terminal, a chain of two.
"""

import argparse
import json
import os
import random
import sys

APEX = "4.4.e164.arpa."
SOA_TTL = 3600
SOA_MINIMUM = 300
DEFAULT_TTL = 3600


def name_of(national: str) -> str:
    """National digits after +44 -> owner name: '2079' -> '9.7.0.2.4.4.e164.arpa.'"""
    return "".join(d + "." for d in reversed(national)) + APEX


def rel(name: str, origin: str) -> str:
    """Name relative to origin (name must be below origin), for writing relative owners."""
    assert name.endswith("." + origin), (name, origin)
    return name[: -len(origin) - 1]


class Zone:
    """Collects records (owner -> list of (ttl or None, type, rdata text)) and the names
    that exist, so that pools can be checked against what really is in the zone."""

    def __init__(self):
        self.rrs = {}  # owner (absolute, lower case) -> [(ttl|None, type, rdata)]
        self.order = []  # owners in insertion order

    def add(self, owner, rtype, rdata, ttl=None):
        if owner not in self.rrs:
            self.rrs[owner] = []
            self.order.append(owner)
        self.rrs[owner].append((ttl, rtype, rdata))

    def exists(self, name):
        """True if name owns records or is an empty non-terminal (has descendants)."""
        return name in self.nodes

    def finish(self):
        """Compute all existing nodes (owners and their ancestors down from the apex)."""
        self.nodes = set()
        for owner in self.rrs:
            n = owner
            while n != APEX and n not in self.nodes:
                self.nodes.add(n)
                n = n.split(".", 1)[1]
        self.nodes.add(APEX)


def naptr_sip(nat):
    return f'10 100 "u" "E2U+sip" "!^.*$!sip:+44{nat}@sip.example.net!" .'


def naptr_tel(nat, rng):
    rn = "".join(rng.choice("0123456789") for _ in range(4))
    return f'20 100 "u" "E2U+pstn:tel" "!^.*$!tel:+44{nat};npdi;rn=+44{rn}!" .'


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--numbers", type=int, default=50000, help="explicit numbers (default 50000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--out-dir", required=True, help="directory for zone.db and manifest.json")
    args = ap.parse_args()
    if args.numbers < 1000:
        ap.error("--numbers must be at least 1000 (every kind of name needs room)")
    rng = random.Random(args.seed)
    z = Zone()
    n = args.numbers

    # ---- reserved 6-digit prefixes (the 8-digit "+44 xxxxxx" blocks) --------------------
    # Pilots and delegations own whole blocks; regular numbers never fall inside them, so
    # every name under a pilot is either explicitly placed or wildcard-synthesized, and
    # nothing is occluded by accident.  Regular numbers start with 1, 2, 3, 7 or 8; the
    # blocks start with 1 or 2 so they share upper ENTs with regular numbers.
    n_pilots = max(20, n // 1000)
    n_deleg = max(20, n // 2000)
    blocks = rng.sample(range(100000, 300000), n_pilots + n_deleg + 1)
    pilots = [str(b) for b in blocks[:n_pilots]]
    delegs = [str(b) for b in blocks[n_pilots:n_pilots + n_deleg]]
    pilot2 = str(blocks[-1])  # the pilot with a wildcard CNAME
    reserved = set(pilots) | set(delegs) | {pilot2}

    # ---- apex ------------------------------------------------------------------------------
    z.add(APEX, "NS", "ns1")  # relative rdata name, written under $ORIGIN 4.4.e164.arpa.
    z.add(APEX, "NS", "ns2.enum-ops.example.net.")
    z.add(APEX, "MX", "10 mail")
    z.add(APEX, "TXT", '"ENUM tier-2 for +44" "test zone; generated"')
    z.add("ns1." + APEX, "A", "192.0.2.53")
    z.add("ns1." + APEX, "AAAA", "2001:db8::53")

    # ---- non-digit names ---------------------------------------------------------------------
    z.add("www." + APEX, "A", "192.0.2.80")
    z.add("www." + APEX, "AAAA", "2001:db8::80")
    z.add("mail." + APEX, "A", "192.0.2.25", ttl=86400)
    z.add("sip." + APEX, "A", "192.0.2.60")
    z.add("_sip._udp." + APEX, "SRV", "10 50 5060 sip.4.4.e164.arpa.")
    z.add("_sip._udp." + APEX, "SRV", "20 50 5060 sip-backup.example.net.")
    z.add("foo.5.5." + APEX, "A", "192.0.2.55")
    z.add("foo.5.5." + APEX, "TXT", '"non-digit label under digits"')
    # a few numbers under 5.5 too, so 5.5.4.4.e164.arpa. is an ENT with mixed children
    for _ in range(5):
        nat = "55" + "".join(rng.choice("0123456789") for _ in range(8))
        z.add(name_of(nat), "NAPTR", naptr_sip(nat))

    # ---- regular numbers -----------------------------------------------------------------------
    pools = {k: [] for k in (
        "hit", "hit_multi", "hit_big", "hit_huge", "txt", "ent", "nx", "nx_below",
        "wild", "wild_literal", "pilot_explicit", "pilot_ent", "pilot_ent_nx",
        "cut", "below_cut", "occluded", "glue", "bigglue", "apex", "apex_host", "nondigit",
        "cname", "cname_wild", "oz")}
    numbers = []
    seen = set()
    while len(numbers) < n:
        nat = rng.choice("12378") + "".join(rng.choice("0123456789") for _ in range(9))
        if nat in seen or nat[:6] in reserved:
            continue
        seen.add(nat)
        numbers.append(nat)
    # Special roles are taken from the front of the (random) list, the rest are plain.
    it = iter(numbers)
    cname_owners = [next(it) for _ in range(66)]
    huge = [next(it) for _ in range(2)]
    big = [next(it) for _ in range(max(10, n // 2000))]
    plain = list(it)
    for nat in plain:
        name = name_of(nat)
        r = rng.random()
        z.add(name, "NAPTR", naptr_sip(nat))
        if r < 0.25:
            z.add(name, "NAPTR", naptr_tel(nat, rng))
            pools["hit_multi"].append(name)
        elif r < 0.29:
            # several NAPTRs with different order/preference (kept well below 512 bytes)
            z.add(name, "NAPTR", naptr_tel(nat, rng).replace("20 100", "20 50", 1))
            z.add(name, "NAPTR", f'20 10 "u" "E2U+email:mailto" "!^.*$!mailto:{nat}@example.org!" .')
            if rng.random() < 0.5:
                z.add(name, "NAPTR", '30 100 "u" "E2U+web:https" "!^.*$!https://www.example.org/!" .')
            pools["hit_multi"].append(name)
        elif r < 0.30:
            z.add(name, "TXT", f'"+44{nat}" "owner=\\"Example Ltd\\"\\059 ref 42"', ttl=600)
            pools["txt"].append(name)
        else:
            pools["hit"].append(name)
    for nat in big:
        # 6 NAPTRs of ~120 bytes: ~800 bytes, over 512 but under 1232
        name = name_of(nat)
        for i in range(6):
            z.add(name, "NAPTR", f'{10 + i} {100 - i} "u" "E2U+sip" '
                  f'"!^.*$!sip:+44{nat}-line{i}@a-rather-long-host-name-for-truncation-tests.sip.example.net!" .')
        pools["hit_big"].append(name)
    for nat in huge:
        # 14 such NAPTRs: ~1800 bytes, over 1232 (the servers' EDNS payload)
        name = name_of(nat)
        for i in range(14):
            z.add(name, "NAPTR", f'{10 + i} {100 - i} "u" "E2U+sip" '
                  f'"!^.*$!sip:+44{nat}-line{i}@a-rather-long-host-name-for-truncation-tests.sip.example.net!" .')
        pools["hit_huge"].append(name)

    # ---- PBX pilots with wildcards -------------------------------------------------------------
    pilot_explicit_nodes = {}
    for k, p in enumerate(pilots):
        pname = name_of(p)
        z.add("*." + pname, "NAPTR", f'100 10 "u" "E2U+sip" "!^\\\\+44{p}(.*)$!sip:\\\\1@pbx-{k}.example.com!" .')
        if k % 3 == 0:
            z.add("*." + pname, "NAPTR", f'200 10 "u" "E2U+voice:tel" "!^\\\\+44{p}(.*)$!tel:+44{p}\\\\1!" .')
        explicit = []
        if k % 2 == 0:
            # 10-digit extension d1.d0.<pilot> -> d0.<pilot> is an ENT blocking the wildcard
            ext = p + "".join(rng.choice("0123456789") for _ in range(2))
            z.add(name_of(ext), "NAPTR", naptr_sip(ext))
            explicit.append(ext)
            # and two 12-digit numbers under the pilot
            for _ in range(2):
                full = p + "".join(rng.choice("0123456789") for _ in range(4))
                if full[:8] == ext[:8] or name_of(full) in z.rrs:
                    continue
                z.add(name_of(full), "NAPTR", naptr_sip(full))
                explicit.append(full)
        pilot_explicit_nodes[p] = explicit
        pools["wild_literal"].append(["*." + pname, "NAPTR"])

    # pilot2: wildcard CNAME to an existing number, plus one explicit name under it
    p2name = name_of(pilot2)
    z.add("*." + p2name, "CNAME", name_of(plain[0]))
    z.add(name_of(pilot2 + "1"), "NAPTR", naptr_sip(pilot2 + "1"))

    # ---- delegations ---------------------------------------------------------------------------
    deleg_info = []
    glue = {}  # delegation owner -> in-subtree glue [name, type, rdata], for differ.py's RFC 9471 check
    bigglue = delegs[0]
    for k, d in enumerate(delegs):
        dname = name_of(d)
        style = ["glue", "oog", "mixed", "glue", "oog"][k % 5] if d != bigglue else "big"
        if k == 1:
            style = "sibling"
        glue_names = []
        if style == "glue":
            ns = ["ns1." + dname, "ns2." + dname]
            glue_names = ns
        elif style == "oog":
            ns = [f"ns1.tier3-{k}.example.org.", f"ns2.tier3-{k}.example.org."]
        elif style == "mixed":
            ns = ["ns1." + dname, f"ns.tier3-{k}.example.net."]
            glue_names = ns[:1]
        elif style == "sibling":
            # NS names elsewhere in the parent zone: their addresses are authoritative data,
            # not glue (RFC 9471 §2.2 "sibling glue", a SHOULD; additional is not compared)
            ns = ["ns1." + APEX, "ns1." + name_of(delegs[0])]
        else:  # big: 4 NS names in the subtree with 3 A + 3 AAAA each, ~660 bytes
            ns = [f"ns{i}." + dname for i in range(1, 5)]
            glue_names = ns
        for t in ns:
            z.add(dname, "NS", t)
        for gi, g in enumerate(glue_names):
            count = 3 if style == "big" else 1
            for j in range(count):
                a, aaaa = f"198.51.{k % 250}.{gi * 10 + j + 1}", f"2001:db8:{k:x}::{gi * 10 + j + 1:x}"
                z.add(g, "A", a)
                z.add(g, "AAAA", aaaa)
                glue.setdefault(dname, []).extend([[g, "A", a], [g, "AAAA", aaaa]])
        if k % 7 == 3:
            # occluded data below the cut: must never be served, the referral wins
            occ = d + "1234"
            z.add(name_of(occ), "NAPTR", naptr_sip(occ))
            pools["occluded"].append([name_of(occ), "NAPTR"])
        deleg_info.append((d, dname, glue_names))
        (pools["bigglue"] if style == "big" else pools["cut"]).append([dname, "NAPTR"])
        for g in glue_names:
            (pools["bigglue"] if style == "big" else pools["glue"]).append([g, "A"])

    # ---- CNAMEs (owners are 12-digit number names) ---------------------------------------------
    # Targets of each kind; all absolute names.
    cn = iter(cname_owners)
    for i in range(8):
        o = name_of(next(cn))  # -> existing number
        z.add(o, "CNAME", name_of(plain[1 + i]))
        pools["cname"].append([o, "NAPTR"])
    for i in range(8):
        p = pilots[1 + 2 * i]  # odd pilots: no explicit names below, all synthesized
        o = name_of(next(cn))
        z.add(o, "CNAME", name_of(p + f"{i:04d}"))
        pools["cname"].append([o, "NAPTR"])
    for i in range(8):
        o = name_of(next(cn))  # -> nonexistent in-zone name (NXDOMAIN, RFC 6604)
        while True:
            t = rng.choice("12378") + "".join(rng.choice("0123456789") for _ in range(9))
            if t not in seen and t[:6] not in reserved:
                break
        seen.add(t)  # never reused as a number or an NXDOMAIN probe target
        z.add(o, "CNAME", name_of(t), ttl=1800)
        pools["cname"].append([o, "NAPTR"])
    for i in range(8):
        o = name_of(next(cn))  # -> out of zone
        t = [f"gw{i}.sip.example.net.", f"{i}.8.7.6.5.4.3.2.1.3.e164.arpa.", "e164.arpa."][i % 3]
        z.add(o, "CNAME", t)
        pools["cname"].append([o, "NAPTR"])
    for i in range(8):
        o = name_of(next(cn))  # -> below a delegation (CNAME then referral)
        z.add(o, "CNAME", name_of(delegs[2 + i] + "5678"))
        pools["cname"].append([o, "NAPTR"])
    for i in range(4):
        o = name_of(next(cn))  # -> empty non-terminal (NODATA after the CNAME)
        z.add(o, "CNAME", name_of(plain[20 + i][:7]))
        pools["cname"].append([o, "NAPTR"])
    for i in range(4):
        # chain of two: o1 -> o2 -> number
        o1, o2 = name_of(next(cn)), name_of(next(cn))
        z.add(o1, "CNAME", o2)
        z.add(o2, "CNAME", name_of(plain[30 + i]))
        pools["cname"].append([o1, "NAPTR"])
        pools["cname"].append([o2, "NAPTR"])
    # loops: a name to itself, two names, three names (each CNAME answered once, as NSD does)
    for size in (1, 2, 3):
        loop = [name_of(next(cn)) for _ in range(size)]
        for k, o in enumerate(loop):
            z.add(o, "CNAME", loop[(k + 1) % size])
            pools["cname"].append([o, "NAPTR"])
    for i in range(4):
        o = name_of(next(cn))  # -> non-digit in-zone name
        z.add(o, "CNAME", ["sip.", "www.", "foo.5.5.", "_sip._udp."][i] + APEX)
        pools["cname"].append([o, "NAPTR"])

    z.finish()

    # ---- pools of query names -----------------------------------------------------------------
    def rand_digits(k):
        return "".join(rng.choice("0123456789") for _ in range(k))

    def covered(nat):
        """True if a name with these national digits is under a pilot, pilot2 or a cut."""
        return len(nat) >= 6 and nat[:6] in reserved

    for _ in range(4000):  # ENTs above regular numbers (proper prefixes, no data of their own)
        nat = rng.choice(plain)[: rng.randint(1, 9)]
        if name_of(nat) not in z.rrs and not covered(nat):
            pools["ent"].append([name_of(nat), "NAPTR"])
    tries = 0
    while len(pools["nx"]) < 4000 and tries < 100000:
        tries += 1
        nat = rng.choice("123456789") + rand_digits(rng.choice([9, 9, 9, 8, 7, 5]))
        if not z.exists(name_of(nat)) and not covered(nat):
            pools["nx"].append([name_of(nat), "NAPTR"])
    for _ in range(1000):  # below an existing number (no wildcard there)
        nat = rng.choice(plain) + rand_digits(rng.randint(1, 3))
        pools["nx_below"].append([name_of(nat), "NAPTR"])
    for p in pilots:
        explicit = pilot_explicit_nodes[p]
        explicit_names = {name_of(x) for x in explicit}
        ents = set()
        for x in explicit:
            for k in range(len(p) + 1, len(x)):
                ents.add(name_of(x[:k]))
        pools["pilot_ent"].append([name_of(p), "NAPTR"])  # the pilot itself: only '*' below
        for e in sorted(ents):
            pools["pilot_ent"].append([e, "NAPTR"])
            for _ in range(4):
                cand = ".".join(rand_digits(rng.randint(1, 2))) + "." + e  # label(s) under the ENT
                if cand not in explicit_names and not z.exists(cand):
                    pools["pilot_ent_nx"].append([cand, "NAPTR"])
        for x in explicit:
            pools["pilot_explicit"].append([name_of(x), "NAPTR"])
        for _ in range(60):
            # synthesized: first label under the pilot must not be an existing node
            tail = rand_digits(rng.choice([1, 2, 4, 4, 4, 5, 6]))
            cand = name_of(p + tail)
            first = name_of(p + tail[0])
            if first not in z.nodes:
                pools["wild"].append([cand, "NAPTR"])
    for _ in range(300):
        tail = rand_digits(rng.choice([2, 4, 4]))
        if tail[0] != "1":
            pools["cname_wild"].append([name_of(pilot2 + tail), "NAPTR"])
    pools["cname_wild"].append([name_of(pilot2 + "1"), "NAPTR"])  # explicit, not synthesized
    for d, dname, _glue_names in deleg_info:
        for _ in range(20):
            pools["below_cut" if d != bigglue else "bigglue"].append(
                [name_of(d + rand_digits(rng.randint(1, 4))), "NAPTR"])
    pools["apex"] = [[APEX, t] for t in ("SOA", "NS", "A", "MX", "TXT", "NAPTR", "AAAA")]
    pools["apex_host"] = [["ns1." + APEX, "A"], ["ns1." + APEX, "AAAA"]]
    pools["nondigit"] = [["www." + APEX, "A"], ["www." + APEX, "AAAA"], ["mail." + APEX, "A"],
                         ["sip." + APEX, "A"], ["_sip._udp." + APEX, "SRV"], ["foo.5.5." + APEX, "A"],
                         ["foo.5.5." + APEX, "TXT"], ["5.5." + APEX, "NAPTR"], ["bar.5.5." + APEX, "A"],
                         ["_udp." + APEX, "SRV"], ["_tcp." + APEX, "SRV"], ["nope." + APEX, "A"],
                         ["x.www." + APEX, "A"]]
    pools["oz"] = [["1.2.3.e164.arpa.", "NAPTR"], ["0.9.8.7.6.5.4.3.2.1.3.e164.arpa.", "NAPTR"],
                   ["e164.arpa.", "SOA"], ["example.com.", "A"], ["4.e164.arpa.", "NS"],
                   [".", "SOA"], ["arpa.", "NS"], ["4.4.e164.arpa.example.com.", "A"]]
    for k, v in list(pools.items()):
        if v and isinstance(v[0], str):
            pools[k] = [[x, "NAPTR" if k != "txt" else "TXT"] for x in v]
    for k, v in pools.items():
        if not v:
            print(f"gen_zone: internal error: empty pool {k}", file=sys.stderr)
            return 1

    os.makedirs(args.out_dir, exist_ok=True)
    write_zone(z, os.path.join(args.out_dir, "zone.db"), rng)
    with open(os.path.join(args.out_dir, "manifest.json"), "w") as f:
        json.dump({"apex": APEX, "numbers": n, "seed": args.seed, "pools": pools, "glue": glue}, f)
    total = sum(len(v) for v in z.rrs.values())
    print(f"gen_zone: {len(z.rrs)} owners, {total} records, {n} numbers, {len(pilots)} pilots, "
          f"{len(delegs)} delegations")
    return 0


def ttl_class(rng, ttl):
    """TTL and class in the varied forms RFC 1035 §5.1 allows ([TTL] [class] or [class] [TTL])."""
    r = rng.random()
    if ttl is None:
        return ["", "IN "][r < 0.6]
    if r < 0.4:
        return f"{ttl} IN "
    if r < 0.7:
        return f"IN {ttl} "
    return f"{ttl} "


def write_zone(z, path, rng):
    """Write the master file.  Numbers are grouped by their first two national digits under a
    '$ORIGIN <d1>.<d0>.4.4.e164.arpa.' so most owners are relative; some are absolute, some
    use omitted owners, some groups change $TTL (and those records carry explicit TTLs
    where it matters: an omitted TTL means the current $TTL)."""
    out = []
    w = out.append
    w("; ENUM tier-2 test zone for +44, generated by tests/interop/gen_zone.py")
    w("; (NSD vs enumd differential test; not a real delegation)")
    w(f"$ORIGIN {APEX}")
    w(f"$TTL {DEFAULT_TTL}")
    w(f"@\t{SOA_TTL} IN SOA ns1 hostmaster.example.net. (")
    w("\t\t2024060101 ; serial")
    w("\t\t7200       ; refresh")
    w("\t\t900        ; retry")
    w("\t\t1209600    ; expire")
    w(f"\t\t{SOA_MINIMUM} )      ; minimum: negative answers get min(SOA TTL, this)")
    apex_rrs = z.rrs[APEX]
    first = True
    for ttl, t, rd in apex_rrs:
        w(("@\t" if first else "\t") + ttl_class(rng, ttl) + f"{t}\t{rd}")
        first = False

    groups = {}  # origin -> owners
    other = []
    for owner in z.order:
        if owner == APEX:
            continue
        labels = owner[: -len(APEX) - 1].split(".")
        if len(labels) >= 4 and all(l.isdigit() for l in labels[-2:]) and labels[0] != "*" \
                and labels[0].isdigit():
            origin = ".".join(labels[-2:]) + "." + APEX
            groups.setdefault(origin, []).append(owner)
        else:
            other.append(owner)

    w("")
    w("; --- infrastructure, pilots, delegations, glue (relative to the apex) ---")
    current_ttl = DEFAULT_TTL
    for owner in other:
        rrs = z.rrs[owner]
        spelled = rel(owner, APEX) if rng.random() < 0.7 else owner
        if owner in ("www." + APEX, "mail." + APEX):
            spelled = spelled.replace("www", "WWW").replace("mail", "Mail")  # case-insensitive owners
        for i, (ttl, t, rd) in enumerate(rrs):
            lead = spelled if i == 0 or rng.random() < 0.3 else ""
            w(f"{lead}\t{ttl_class(rng, ttl)}{t}\t{rd}")

    origins = list(groups)
    rng.shuffle(origins)
    for origin in origins:
        w("")
        w(f"$ORIGIN {origin}")
        new_ttl = DEFAULT_TTL
        if rng.random() < 0.1:
            new_ttl = rng.choice([1800, 7200])
        if new_ttl != current_ttl:
            w(f"$TTL {new_ttl}")
            current_ttl = new_ttl
        for owner in groups[origin]:
            rrs = z.rrs[owner]
            r = rng.random()
            spelled = owner if r < 0.1 else rel(owner, origin)
            if rng.random() < 0.05:
                w(f"; {owner}")
            for i, (ttl, t, rd) in enumerate(rrs):
                lead = spelled if i == 0 or rng.random() < 0.3 else ""
                tc = ttl_class(rng, ttl)
                if t == "NAPTR" and rng.random() < 0.01:
                    # parentheses spanning lines, with a comment inside
                    parts = rd.split(" ", 4)
                    w(f"{lead}\t{tc}NAPTR ( {' '.join(parts[:4])} ; order pref flags service")
                    w(f"\t\t{parts[4]} )")
                else:
                    comment = "  ; sip" if rng.random() < 0.01 else ""
                    w(f"{lead}\t{tc}{t}\t{rd}{comment}")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    sys.exit(main())
