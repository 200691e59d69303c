#!/usr/bin/env python3
"""Deterministic synthetic registry for the report tests, and the figures
expected of it, computed here from the records alone (not from twin).

  genregistry.py gen ASSOC_KEY COMMITTEE_KEY DIR [--seed N]
      writes DIR/assoc.json (groups, the groups' links and a few places a hub
      lists) for the association node and DIR/committee.json (places and the
      links their committees state back) for the committee node, both ready
      for `twin import`.
  genregistry.py expect ASSOC_KEY COMMITTEE_KEY DIR [--no-update]
      prints {"stats": {...}, "gaps": {...}} as twind should compute them
      (the rules of proto/PROTOCOL.md, "Reports").  With --no-update every
      active or exploring link counts as not updated (a report computed far in
      the future).

Edge cases built in: one place listed twice under different spellings with
the same subdivision (Beit Sahour / Bayt Sahur), ended links with an end
date, dormant links, links stated by both sides (confirmed) and by one,
links to places nobody lists, and several groups courting one place.
Precedence: the hub's Bayt Sahur names the committee, whose own Beit Sahour
then shows and counts the place (and says it seeks no partner); the hub
lists one of the committee's places under its name in the wrong
governorate (one place, by the committee's record, with a link stated by
the group to the listing and back by the committee to its own record:
confirmed); and lists a name two of the committee's places bear (no
precedence: three places).
"""
import json
import random
import re
import sys

GOVS = [("PS-JEN", "west_bank"), ("PS-TBS", "west_bank"), ("PS-TKM", "west_bank"), ("PS-NBS", "west_bank"),
        ("PS-QQA", "west_bank"), ("PS-SLT", "west_bank"), ("PS-RBH", "west_bank"), ("PS-JRH", "west_bank"),
        ("PS-JEM", "west_bank"), ("PS-BTH", "west_bank"), ("PS-HBN", "west_bank"), ("PS-NGZ", "gaza"),
        ("PS-GZA", "gaza"), ("PS-DEB", "gaza"), ("PS-KYS", "gaza"), ("PS-RFH", "gaza")]
REGIONS = [("E12000001", "england"), ("E12000002", "england"), ("E12000003", "england"), ("E12000004", "england"),
           ("E12000005", "england"), ("E12000006", "england"), ("E12000007", "england"), ("E12000008", "england"),
           ("E12000009", "england"), ("W92000004", "wales"), ("S92000003", "scotland"), ("N92000002", "northern_ireland")]
GKINDS = ["twinning_association", "friendship_group", "student_union", "church", "school", "university",
          "council", "health_link", "trade_union", "other"]
PKINDS = ["city", "town", "village", "refugee_camp", "bedouin_community", "neighbourhood"]
FORMS = ["formal_twinning", "friendship_link", "institutional_link", "exploring"]
STATUSES = ["active", "active", "active", "exploring", "dormant", "ended"]
TOWNS = ["Ashford", "Bolton", "Carlisle", "Dundee", "Exeter", "Frome", "Gateshead", "Hexham", "Ilkley",
         "Jarrow", "Kendal", "Ludlow", "Malvern", "Newry", "Oban", "Penrith", "Ripon", "Stroud", "Truro",
         "Usk", "Ventnor", "Whitby", "Yeovil", "Zennor"]
SYL = ["Beit", "Kafr", "Deir", "Ein", "Khirbet", "Tell", "Jabal", "Wadi"]
SYL2 = ["Ula", "Nur", "Salem", "Rima", "Hajar", "Zeit", "Tin", "Lauz", "Rumman", "Sukkar"]


def gen(akey, ckey, out, seed):
    rnd = random.Random(seed)
    assoc, comm = [], []
    groups = []
    for i in range(90):
        region, nation = rnd.choice(REGIONS)
        body = {"name": "%s %s Association %d" % (rnd.choice(TOWNS), rnd.choice(["Twinning", "Friends of Palestine", "Link"]), i),
                "group_kind": rnd.choice(GKINDS), "nation": nation, "email": "secretary@example.org"}
        if rnd.random() < 0.85:
            body["region"] = region
        if rnd.random() < 0.25:
            body["seeking_partner"] = True
        elif rnd.random() < 0.2:
            body["seeking_partner"] = False
        slot = "g-%03d" % i
        groups.append(slot)
        assoc.append({"kind": "group", "slot": slot, "body": body})
    places = []    # (author key, slot)
    for i in range(110):
        gov, area = rnd.choice(GOVS)
        body = {"name_en": "%s %s %d" % (rnd.choice(SYL), rnd.choice(SYL2), i), "place_kind": rnd.choice(PKINDS),
                "country": "PS", "name_ar": "قرية %d" % i, "website": "https://example.org/p%d" % i}
        if rnd.random() < 0.9:
            body["subdivision"] = gov
        if rnd.random() < 0.8:
            body["area"] = area
        if rnd.random() < 0.3:
            body["seeking_partner"] = True
        slot = "p-%03d" % i
        places.append((ckey, slot))
        comm.append({"kind": "place", "slot": slot, "body": body})
    # The edge case: one town listed by the committee and again by the hub
    # under another spelling, same subdivision.
    comm.append({"kind": "place", "slot": "beit-sahour", "body": {
        "name_en": "Beit Sahour", "name_ar": "بيت ساحور", "place_kind": "town", "country": "PS",
        "subdivision": "PS-BTH", "area": "west_bank"}})
    assoc.append({"kind": "place", "slot": "hub-bayt-sahur", "body": {
        "name_en": "Bayt Sahur", "other_names": ["beit-sahour", "Beit Sahur"], "place_kind": "town",
        "country": "PS", "subdivision": "PS-BTH", "seeking_partner": True, "committee": ckey}})
    places.append((ckey, "beit-sahour"))
    # Places a hub lists for communities with no node, some naming the committee's key.
    for i in range(15):
        gov, area = rnd.choice(GOVS)
        body = {"name_en": "Hub Listed %d" % i, "place_kind": rnd.choice(PKINDS), "country": "PS",
                "subdivision": gov, "area": area}
        if i % 3 == 0:
            body["committee"] = ckey
        if i % 4 == 0:
            body["seeking_partner"] = True
        places.append((akey, "hp-%02d" % i))
        assoc.append({"kind": "place", "slot": "hp-%02d" % i, "body": body})

    def pref(author, slot, me):
        return slot if author == me else "%s/%s" % (author, slot)

    n = 0
    used = {("g-000", "beit-sahour")}
    for i in range(170):
        g = rnd.choice(groups)
        # A few places draw many groups: duplication.
        pa, ps = rnd.choice(places[:12]) if rnd.random() < 0.3 else rnd.choice(places)
        if (g, ps) in used:
            continue
        used.add((g, ps))
        status = rnd.choice(STATUSES)
        body = {"group": g, "place": pref(pa, ps, akey), "formality": rnd.choice(FORMS), "status": status}
        if rnd.random() < 0.8:
            body["since"] = "%d" % rnd.randint(1985, 2024)
        if status == "ended" and rnd.random() < 0.8:
            body["ended"] = "%d" % rnd.randint(int(body.get("since", "1985")), 2025)
        assoc.append({"kind": "link", "slot": "l-%03d" % n, "body": body})
        # The place's side states the same link back for about half.
        if rnd.random() < 0.5:
            back = dict(body)
            back["group"] = "%s/%s" % (akey, g)
            back["place"] = pref(pa, ps, ckey)
            comm.append({"kind": "link", "slot": "b-%03d" % n, "body": back})
        n += 1
    # One-sided statements from the committees, and statements whose records
    # nobody lists.
    for i in range(12):
        pa, ps = rnd.choice(places[:110])
        comm.append({"kind": "link", "slot": "c-%02d" % i, "body": {
            "group": "%s/g-9%02d" % (akey, i), "place": ps, "formality": "exploring", "status": "exploring"}})
    comm.append({"kind": "link", "slot": "c-key", "body": {"party_key": akey, "formality": "friendship_link",
                                                           "status": "active", "since": "2010"}})
    # A link to the place listed twice, under its other spelling: counts once.
    assoc.append({"kind": "link", "slot": "l-sahur", "body": {"group": "g-000", "place": "hub-bayt-sahur",
                  "formality": "formal_twinning", "status": "active", "since": "1998"}})
    comm.append({"kind": "link", "slot": "b-sahur", "body": {"group": "%s/g-000" % akey, "place": "beit-sahour",
                 "formality": "formal_twinning", "status": "active", "since": "1998"}})
    # Precedence: the hub lists the committee's p-005 under its name, in
    # another governorate and as another kind, naming the committee; a
    # group links to the listing and the committee states the link back
    # from its own record.
    p5 = next(r["body"] for r in comm if r["slot"] == "p-005")
    wrong = next(g for g, _ in GOVS if g != p5.get("subdivision") and g.startswith("PS-N"))
    assoc.append({"kind": "place", "slot": "hub-p005", "body": {
        "name_en": p5["name_en"], "place_kind": "neighbourhood" if p5["place_kind"] != "neighbourhood" else "city",
        "country": "PS", "subdivision": wrong, "seeking_partner": True, "committee": ckey}})
    assoc.append({"kind": "link", "slot": "l-p005", "body": {"group": "g-001", "place": "hub-p005",
                  "formality": "friendship_link", "status": "active", "since": "2019"}})
    comm.append({"kind": "link", "slot": "b-p005", "body": {"group": "%s/g-001" % akey, "place": "p-005",
                 "formality": "friendship_link", "status": "active", "since": "2019"}})
    # A name two of the committee's places bear: the hub's listing of it
    # naming the committee is a third place.
    for slot, gov in (("twin-hbn", "PS-HBN"), ("twin-jen", "PS-JEN")):
        comm.append({"kind": "place", "slot": slot, "body": {"name_en": "Khirbet Twin", "place_kind": "village",
                     "country": "PS", "subdivision": gov, "area": "west_bank"}})
    assoc.append({"kind": "place", "slot": "hub-twin", "body": {"name_en": "Khirbet Twin", "place_kind": "village",
                  "country": "PS", "subdivision": "PS-NBS", "committee": ckey}})
    with open(out + "/assoc.json", "w", encoding="utf-8") as f:
        json.dump(assoc, f, ensure_ascii=False, indent=0)
    with open(out + "/committee.json", "w", encoding="utf-8") as f:
        json.dump(comm, f, ensure_ascii=False, indent=0)


def fold(s):
    """tw_text_fold for the text this generator writes (ASCII and Arabic
    letters without marks)."""
    s = s.lower()
    s = re.sub(r"[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]", " ", s)
    return re.sub(" +", " ", s).strip()


def expect(akey, ckey, d, no_update):
    recs = []
    for author, fn in ((akey, "assoc.json"), (ckey, "committee.json")):
        for r in json.load(open(d + "/" + fn, encoding="utf-8")):
            recs.append((author, r["kind"], r["slot"], r["body"]))
    govs = {c for c, _ in GOVS}
    regions = {c for c, _ in REGIONS}
    groups = {(a, s): b for a, k, s, b in recs if k == "group"}
    places = {(a, s): b for a, k, s, b in recs if k == "place"}
    links = [(a, s, b) for a, k, s, b in recs if k == "link"]

    def ref(k):
        return "%s/%s" % k

    # Place identities: union of places sharing (scope, folded name).
    parent = {k: k for k in places}

    def root(k):
        while parent[k] != k:
            k = parent[k]
        return k

    def union(a, b):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[rb] = ra
    folds = {}
    for k, b in places.items():
        names = [b["name_en"], b.get("name_ar")] + b.get("other_names", [])
        folds[k] = [fold(nm) for nm in names if nm and fold(nm)]
    seen = {}
    for k in sorted(places, key=ref):
        b = places[k]
        scope = b.get("subdivision", b["country"])
        for f in folds[k]:
            if (scope, f) in seen:
                union(seen[(scope, f)], k)
            else:
                seen[(scope, f)] = k
    # Precedence: a listing naming committee K joins K's only record, or the
    # one identity (by the name rule) of K's records sharing a folded name
    # with it.
    name_root = {k: root(k) for k in places}
    by_author = {}
    for k in places:
        by_author.setdefault(k[0], []).append(k)

    def target(k):
        c = places[k].get("committee")
        if c is None or c == k[0]:
            return None
        recs = by_author.get(c, [])
        if len(recs) == 1:
            return recs[0]
        cand = None
        for f in folds[k]:
            roots = {name_root[m] for m in recs if f in folds[m]}
            if not roots:
                continue
            if len(roots) > 1 or (cand is not None and cand not in roots):
                return None
            cand = roots.pop()
        return cand
    targets = {k: target(k) for k in places}
    for k, t in targets.items():
        if t is not None:
            union(k, t)
    named = {(root(k), b["committee"]) for k, b in places.items() if "committee" in b}
    own = {k: places[k].get("committee") == k[0] or (root(k), k[0]) in named for k in places}
    members = {}
    for k in places:
        members.setdefault(root(k), []).append(k)
    ident = {}
    rep = {}
    has_own = {}
    seeking_ident = set()
    for ms in members.values():
        owners = [m for m in ms if own[m]]
        r = min(owners or ms, key=ref)
        for m in ms:
            ident[m] = r
        rep[r] = r
        has_own[r] = bool(owners)
        if any(places[m].get("seeking_partner") for m in (owners or ms)):
            seeking_ident.add(r)

    def superseded(p):
        return has_own[ident[p]] and not own[p]

    def resolve(author, text, table):
        if text is None:
            return None
        if "/" in text:
            a, s = text.split("/", 1)
        else:
            a, s = author, text
        return (a, s) if (a, s) in table else None

    units = {}
    single = []
    for a, s, b in links:
        g = resolve(a, b.get("group"), groups)
        p = resolve(a, b.get("place"), places)
        gs = g is not None and g[0] == a
        ps = p is not None and (places[p].get("committee") == a or (p[0] == a and not superseded(p)))
        st = {"g": g, "ident": ident[p] if p else None, "body": b, "gs": gs, "ps": ps, "ref": ref((a, s))}
        if g and p:
            units.setdefault((g, ident[p]), []).append(st)
        else:
            single.append([st])
    all_units = list(units.values()) + single

    def ctab(vals):
        out = {}
        for v in vals:
            out[v] = out.get(v, 0) + 1
        return out

    def code(v, lst):
        return "(none)" if v is None else (v if v in lst else "(other)")
    stats = {}
    stats["groups_by_kind"] = ctab(b["group_kind"] for b in groups.values())
    stats["groups_by_nation"] = ctab(b["nation"] for b in groups.values())
    stats["groups_by_region"] = ctab(code(b.get("region"), regions) for b in groups.values())
    # Places once per identity, by its representative.
    stats["places_by_area"] = ctab(places[r].get("area", "(none)") for r in rep)
    stats["places_by_kind"] = ctab(places[r]["place_kind"] for r in rep)
    stats["places_by_subdivision"] = ctab(code(places[r].get("subdivision"), govs) for r in rep)
    stats["seeking"] = {k: v for k, v in (("groups", sum(1 for b in groups.values() if b.get("seeking_partner"))),
                                          ("places", len(seeking_ident))) if v}
    # Statements of one link agree in this registry, so any is the governing one.
    gov = [u[0] for u in all_units]
    stats["links_by_status"] = ctab(u["body"]["status"] for u in gov)
    stats["links_by_formality"] = ctab(u["body"]["formality"] for u in gov)
    conf = 0
    confirmed = {}
    for u in all_units:
        ng = sum(1 for s in u if s["gs"])
        np_ = sum(1 for s in u if s["ps"])
        nb = sum(1 for s in u if s["gs"] and s["ps"])
        c = ng >= 1 and np_ >= 1 and not (ng == 1 and np_ == 1 and nb == 1)
        conf += c
        for s in u:
            confirmed[s["ref"]] = c
    stats["links_by_confirmation"] = {"confirmed": conf, "unconfirmed": len(all_units) - conf}
    stats["links_started_by_year"] = ctab(u["body"]["since"][:4] for u in gov if "since" in u["body"])
    stats["links_ended_by_year"] = ctab(u["body"]["ended"][:4] for u in gov if "ended" in u["body"])
    sd = sum(1 for u in gov if u["body"]["status"] == "dormant")
    nu = sum(1 for u in gov if u["body"]["status"] in ("active", "exploring")) if no_update else 0
    stats["dormant_links"] = {"status_dormant": sd, "no_update": nu, "total": sd + nu}
    act = [u for u in gov if u["body"]["status"] == "active"]

    def gattr(u, f, fn=lambda v: v):
        return fn(groups[u["g"]].get(f)) if u["g"] else "(unknown)"

    def pattr(u, f, fn=lambda v: v):
        return fn(places[u["ident"]].get(f)) if u["ident"] else "(unknown)"
    stats["active_links_by_formality"] = ctab(u["body"]["formality"] for u in act)
    stats["active_links_by_group_kind"] = ctab(gattr(u, "group_kind") for u in act)
    stats["active_links_by_nation"] = ctab(gattr(u, "nation") for u in act)
    stats["active_links_by_region"] = ctab(gattr(u, "region", lambda v: code(v, regions)) for u in act)
    stats["active_links_by_area"] = ctab(pattr(u, "area", lambda v: v or "(none)") for u in act)
    stats["active_links_by_governorate"] = ctab(pattr(u, "subdivision", lambda v: code(v, govs)) for u in act)
    stats["active_links_by_place_kind"] = ctab(pattr(u, "place_kind") for u in act)
    stats["totals"] = {"groups": len(groups), "places": len(places), "place_identities": len(rep),
                       "links": len(all_units), "link_statements": len(links)}

    # Gaps.
    active, taken, ngroups = set(), set(), {}
    for u in all_units:
        s = u[0]["body"]["status"]
        if u[0]["ident"] is None:
            continue
        if s == "active":
            active.add(u[0]["ident"])
        if s in ("active", "exploring"):
            taken.add(u[0]["ident"])
            if u[0]["g"]:
                ngroups[u[0]["ident"]] = ngroups.get(u[0]["ident"], 0) + 1
    unp = [r for r in rep if r not in active]
    dup = sorted((r for r in rep if ngroups.get(r, 0) >= 2), key=ref)
    twice = sorted((r for r in rep if len(members[root(r)]) >= 2), key=ref)
    seekg = sorted((k for k, b in groups.items() if b.get("seeking_partner")), key=ref)

    def cand_key(r):
        b = places[r]
        return (0 if r in seeking_ident else 1, code(b.get("subdivision"), govs), b["name_en"], ref(r))
    cand = sorted((r for r in rep if r not in taken), key=cand_key)
    gaps = {"counts": {"duplicated_places": len(dup), "place_identities": len(rep), "places_listed_twice": len(twice),
                       "seeking_groups": len(seekg), "seeking_places": len(seeking_ident), "unpartnered_places": len(unp)},
            "unpartnered_by_governorate": ctab(code(places[r].get("subdivision"), govs) for r in unp),
            "unpartnered_by_kind": ctab(places[r]["place_kind"] for r in unp),
            "duplicated_by_governorate": ctab(code(places[r].get("subdivision"), govs) for r in dup),
            "duplicated": [ref(r) for r in dup],
            "listed_twice": [{"place": ref(r), "records": sorted(ref(m) for m in members[root(r)])} for r in twice],
            "suggestions": [{"group": ref(g), "places": [ref(cand[(3 * i + j) % len(cand)]) for j in range(min(3, len(cand)))]}
                            for i, g in enumerate(seekg)]}
    # What list adds to records: per link statement whether its link is
    # confirmed, per superseded place record the committee's record.
    marks = {"confirmed": confirmed,
             "superseded": {ref(k): ref(ident[k]) for k in places if superseded(k)}}
    return {"stats": stats, "gaps": gaps, "marks": marks}


def main():
    a = sys.argv[1:]
    if len(a) >= 4 and a[0] == "gen":
        seed = int(a[a.index("--seed") + 1]) if "--seed" in a else 20240501
        gen(a[1], a[2], a[3], seed)
    elif len(a) >= 4 and a[0] == "expect":
        print(json.dumps(expect(a[1], a[2], a[3], "--no-update" in a), ensure_ascii=False, sort_keys=True, indent=1))
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
