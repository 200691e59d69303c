#!/usr/bin/env python3
"""Deterministic synthetic registry for the report tests, and the figures
expected of it, computed here from the records alone (not from twin).

  genregistry.py gen ASSOC_KEY COMMITTEE_KEY DIR [--seed N]
      writes DIR/assoc.json (groups, the groups' links and a few places a hub
      lists) for the association node and DIR/committee.json (places and the
      links their committees state back) for the committee node, both ready
      for `twin import`.
  genregistry.py expect ASSOC_KEY COMMITTEE_KEY DIR [--no-update] [--year Y]
      prints {"stats": {...}, "gaps": {...}, "governorates": [...]} as twind
      should compute them (the rules of proto/PROTOCOL.md, "Reports"), for a
      report in year Y (default this year, UTC: the trend runs to it).  With
      --no-update every active or exploring link counts as not updated (a
      report computed far in the future).

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
precedence: three places).  A superseded listing is never "listed twice";
the hub's Jifnah and the committee's Jifna (no committee named) are.
Groups: the hub lists a group naming the committee's key as own_key, whose
own group record (another name) then supersedes it -- one group, and the
link both records state to one place is one link, stated by one author
(the committee) on both sides: unconfirmed.  The committee also publishes a
group of the same name and nation as one of the hub's: listed twice, with
the command that links them.  Some groups give a local authority instead of
a region (inferred), some places lie outside Palestine (partner countries,
one with a code outside ISO 3166-1).
"""
import json
import random
import re
import sys
import time

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


# Local authorities as groups write them, and the region the model expects
# (its own table: twind's is proto/data/uk-local-authorities.csv).
LAS = [("Camden", "E12000007"), ("London Borough of Camden", "E12000007"), ("Walsall", "E12000005"),
       ("Walsall Metropolitan Borough Council", "E12000005"), ("Bristol, City of", "E12000009"),
       ("City of Bristol", "E12000009"), ("E08000025", "E12000005"), ("Leeds City Council", "E12000003"),
       ("Brighton & Hove", "E12000008"), ("Westmorland and Furness", "E12000002"), ("Atlantis", None)]
LA_REGION = dict(LAS)
NATION_CODE = {"wales": "W92000004", "scotland": "S92000003", "northern_ireland": "N92000002"}
COUNTRIES = ["FR", "DE", "IE", "XK"]   # XK: not an ISO 3166-1 code, counted as (other)


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
        elif nation == "england" and rnd.random() < 0.8:
            body["local_authority"] = rnd.choice(LAS)[0]
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
    # Listed twice: the hub's Jifnah and the committee's Jifna, no committee named.
    comm.append({"kind": "place", "slot": "jifna", "body": {"name_en": "Jifna", "place_kind": "village",
                 "country": "PS", "subdivision": "PS-RBH"}})
    assoc.append({"kind": "place", "slot": "hub-jifnah", "body": {"name_en": "Jifnah", "other_names": ["Jifna"],
                  "place_kind": "village", "country": "PS", "subdivision": "PS-RBH"}})
    # Partner places outside Palestine.
    for i, cc in enumerate(COUNTRIES * 2):
        slot = "abroad-%d" % i
        comm.append({"kind": "place", "slot": slot, "body": {"name_en": "Town %s %d" % (cc, i), "place_kind": "town",
                     "country": cc}})
        places.append((ckey, slot))
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
    # Group precedence: the hub lists the committee's group naming its key;
    # the committee's own record (the committee has two group records: the
    # listing names the one of its name), with a local
    # authority instead of a region, supersedes it.  Both state a link to
    # p-003, one link, stated by the committee on both sides.
    assoc.append({"kind": "group", "slot": "g-own", "body": {"name": "Walsall friends of KOBAR", "group_kind": "friendship_group",
                  "nation": "england", "region": "E12000005", "seeking_partner": True, "own_key": ckey}})
    comm.append({"kind": "group", "slot": "walsall", "body": {"name": "Walsall Friends of Kobar",
                 "group_kind": "twinning_association", "nation": "england", "local_authority": "Walsall"}})
    assoc.append({"kind": "link", "slot": "l-own", "body": {"group": "g-own", "place": "%s/p-003" % ckey,
                  "formality": "friendship_link", "status": "active", "since": "2015"}})
    comm.append({"kind": "link", "slot": "b-own", "body": {"group": "walsall", "place": "p-003",
                 "formality": "friendship_link", "status": "active", "since": "2015"}})
    # A group of the same name and nation as one of the hub's, with no own_key.
    g10 = next(r["body"] for r in assoc if r["slot"] == "g-010")
    comm.append({"kind": "group", "slot": "lookalike", "body": {"name": g10["name"].upper(), "group_kind": "other",
                 "nation": g10["nation"]}})
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


def expect(akey, ckey, d, no_update, year):
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
    prec = {}
    seeking_ident = set()
    for ms in members.values():
        owners = [m for m in ms if own[m]]
        r = min(owners or ms, key=ref)
        for m in ms:
            ident[m] = r
        rep[r] = r
        has_own[r] = bool(owners)
        prec[r] = owners or ms
        if any(places[m].get("seeking_partner") for m in (owners or ms)):
            seeking_ident.add(r)
    pnamed = {(ident[k], b["committee"]) for k, b in places.items() if "committee" in b}

    def superseded(p):
        return has_own[ident[p]] and not own[p]

    # Group identities: a listing naming own_key K joins K's only group
    # record (or the one of K's records with its folded name).
    gby_author = {}
    for k in groups:
        gby_author.setdefault(k[0], []).append(k)
    gparent = {k: k for k in groups}

    def groot(k):
        while gparent[k] != k:
            k = gparent[k]
        return k
    for k, b in groups.items():
        o = b.get("own_key")
        if o is None or o == k[0]:
            continue
        recs_o = gby_author.get(o, [])
        t = recs_o[0] if len(recs_o) == 1 else None
        if len(recs_o) > 1:
            same = [m for m in recs_o if fold(groups[m]["name"]) == fold(b["name"])]
            t = same[0] if len(same) == 1 else None
        if t is not None:
            ra, rb = groot(k), groot(t)
            if ra != rb:
                gparent[rb] = ra
    gnamed0 = {(groot(k), b["own_key"]) for k, b in groups.items() if "own_key" in b}
    gown = {k: groups[k].get("own_key") == k[0] or (groot(k), k[0]) in gnamed0 for k in groups}
    gmembers = {}
    for k in groups:
        gmembers.setdefault(groot(k), []).append(k)
    gident, grep, ghas_own, gseeking = {}, {}, {}, set()
    for ms in gmembers.values():
        owners = [m for m in ms if gown[m]]
        r = min(owners or ms, key=ref)
        for m in ms:
            gident[m] = r
        grep[r] = r
        ghas_own[r] = bool(owners)
        if any(groups[m].get("seeking_partner") for m in (owners or ms)):
            gseeking.add(r)
    gnamed = {(gident[k], b["own_key"]) for k, b in groups.items() if "own_key" in b}

    def gsuperseded(g):
        return ghas_own[gident[g]] and not gown[g]

    def region_of(b):
        """(region, source): the field, else the local authority's region
        in the group's nation, else the nation's own code outside England."""
        if "region" in b:
            return (b["region"] if b["region"] in regions else "(other)"), "given"
        r = LA_REGION.get(b.get("local_authority"))
        if r is not None and b["nation"] == "england" and r.startswith("E12"):
            return r, "inferred"
        if b["nation"] in NATION_CODE:
            return NATION_CODE[b["nation"]], "inferred"
        return "(none)", "none"

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
    dangling = []
    for a, s, b in links:
        g = resolve(a, b.get("group"), groups)
        p = resolve(a, b.get("place"), places)
        gs = g is not None and ((g[0] == a and not gsuperseded(g)) or (gident[g], a) in gnamed)
        ps = p is not None and ((p[0] == a and not superseded(p)) or (ident[p], a) in pnamed)
        st = {"g": gident[g] if g else None, "ident": ident[p] if p else None, "body": b, "gs": gs, "ps": ps,
              "ref": ref((a, s)), "author": a}
        if g and p:
            units.setdefault((gident[g], ident[p]), []).append(st)
        else:
            single.append([st])
            dangling.append({"link": ref((a, s)), "group": b.get("group", ""), "place": b.get("place", ""),
                             "missing": "group and place" if not g and not p else "group" if not g else "place"})
    dangling.sort(key=lambda x: x["link"])
    all_units = list(units.values()) + single

    def ctab(vals):
        out = {}
        for v in vals:
            out[v] = out.get(v, 0) + 1
        return out

    def code(v, lst):
        return "(none)" if v is None else (v if v in lst else "(other)")

    def country(v):
        return v if v in ("PS", "FR", "DE", "IE") else "(other)"
    stats = {}
    gr = [groups[r] for r in grep]
    stats["groups_by_kind"] = ctab(b["group_kind"] for b in gr)
    stats["groups_by_nation"] = ctab(b["nation"] for b in gr)
    stats["groups_by_region"] = ctab(region_of(b)[0] for b in gr)
    stats["groups_region_source"] = {k: sum(1 for b in gr if region_of(b)[1] == k) for k in ("given", "inferred", "none")}
    # Places once per identity, by its representative.
    stats["places_by_area"] = ctab(places[r].get("area", "(none)") for r in rep)
    stats["places_by_kind"] = ctab(places[r]["place_kind"] for r in rep)
    stats["places_by_subdivision"] = ctab(code(places[r].get("subdivision"), govs) for r in rep)
    stats["places_by_country"] = ctab(country(places[r]["country"]) for r in rep)
    stats["seeking"] = {k: v for k, v in (("groups", len(gseeking)), ("places", len(seeking_ident))) if v}
    # Statements of one link agree in this registry, so any is the governing one.
    gov = [u[0] for u in all_units]
    stats["links_by_status"] = ctab(u["body"]["status"] for u in gov)
    stats["links_by_formality"] = ctab(u["body"]["formality"] for u in gov)
    conf = 0
    confirmed = {}
    for u in all_units:
        ga = {s["author"] for s in u if s["gs"]}
        pa = {s["author"] for s in u if s["ps"]}
        c = any(x != y for x in ga for y in pa)
        conf += c
        for s in u:
            confirmed[s["ref"]] = c
    stats["links_by_confirmation"] = {"confirmed": conf, "unconfirmed": len(all_units) - conf}
    stats["links_started_by_year"] = ctab(u["body"]["since"][:4] for u in gov if "since" in u["body"])
    stats["links_ended_by_year"] = ctab(u["body"]["ended"][:4] for u in gov if "ended" in u["body"])
    # The trend: a link other than one being explored is active in each
    # year from its since to its ended, or to the report's year.
    spans, und = [], {"ended_before_since": 0, "no_end": 0, "no_since": 0}
    for u in gov:
        b = u["body"]
        if b["status"] == "exploring":
            continue
        if "since" not in b:
            und["no_since"] += 1
            continue
        s0 = int(b["since"][:4])
        e0 = int(b["ended"][:4]) if "ended" in b else None if b["status"] == "ended" else year
        if e0 is None:
            und["no_end"] += 1
        elif "ended" in b and e0 < s0:
            und["ended_before_since"] += 1
        elif s0 <= year:
            spans.append((s0, min(e0, year)))
    first = min((a for a, _ in spans), default=year + 1)
    stats["active_links_by_year"] = {str(y): sum(1 for a, e in spans if a <= y <= e) for y in range(first, year + 1)}
    stats["active_links_undated"] = und
    sd = sum(1 for u in gov if u["body"]["status"] == "dormant")
    nu = sum(1 for u in gov if u["body"]["status"] in ("active", "exploring")) if no_update else 0
    stats["dormant_links"] = {"status_dormant": sd, "no_update": nu, "total": sd + nu}
    act = [u for u in gov if u["body"]["status"] == "active"]

    def gattr(u, fn):
        return fn(groups[u["g"]]) if u["g"] else "(unknown)"

    def pattr(u, f, fn=lambda v: v):
        return fn(places[u["ident"]].get(f)) if u["ident"] else "(unknown)"
    stats["active_links_by_formality"] = ctab(u["body"]["formality"] for u in act)
    stats["active_links_by_group_kind"] = ctab(gattr(u, lambda b: b["group_kind"]) for u in act)
    stats["active_links_by_nation"] = ctab(gattr(u, lambda b: b["nation"]) for u in act)
    stats["active_links_by_region"] = ctab(gattr(u, lambda b: region_of(b)[0]) for u in act)
    stats["active_links_by_area"] = ctab(pattr(u, "area", lambda v: v or "(none)") for u in act)
    stats["active_links_by_governorate"] = ctab(pattr(u, "subdivision", lambda v: code(v, govs)) for u in act)
    stats["active_links_by_place_kind"] = ctab(pattr(u, "place_kind") for u in act)
    stats["active_links_by_country"] = ctab(pattr(u, "country", country) for u in act)
    stats["totals"] = {"groups": len(groups), "group_identities": len(grep), "places": len(places),
                       "place_identities": len(rep), "links": len(all_units), "link_statements": len(links)}

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
    twice = sorted((r for r in rep if len(prec[r]) >= 2), key=ref)
    seekg = sorted(gseeking, key=ref)
    # Group identities alike: same folded name and nation.
    clusters = {}
    for r in sorted(grep, key=ref):
        clusters.setdefault((groups[r]["nation"], fold(groups[r]["name"])), []).append(r)
    glisted = []
    for cl in clusters.values():
        if len(cl) < 2:
            continue
        o = min(cl, key=lambda r: (len(gby_author[r[0]]), cl.index(r)))
        cmds = [{"by": r[0], "command": ("twin delete group %s" % r[1]) if r[0] == o[0] else
                 "twin publish group %s ... own_key=%s" % (r[1], o[0])} for r in cl if r != o]
        glisted.append({"records": [ref(r) for r in cl], "nation": groups[o]["nation"], "commands": cmds})
    glisted.sort(key=lambda x: x["records"][0])

    def cand_key(r):
        b = places[r]
        return (0 if r in seeking_ident else 1, code(b.get("subdivision"), govs), b["name_en"], ref(r))
    cand = sorted((r for r in rep if r not in taken), key=cand_key)
    gaps = {"counts": {"dangling_links": len(dangling), "duplicated_places": len(dup), "group_identities": len(grep),
                       "groups_listed_twice": len(glisted), "place_identities": len(rep),
                       "places_listed_twice": len(twice), "seeking_groups": len(seekg),
                       "seeking_places": len(seeking_ident), "unpartnered_places": len(unp)},
            "unpartnered_by_governorate": ctab(code(places[r].get("subdivision"), govs) for r in unp),
            "unpartnered_by_kind": ctab(places[r]["place_kind"] for r in unp),
            "duplicated_by_governorate": ctab(code(places[r].get("subdivision"), govs) for r in dup),
            "duplicated": [ref(r) for r in dup],
            "dangling": dangling,
            "groups_listed_twice": glisted,
            "listed_twice": [{"place": ref(r), "records": sorted(ref(m) for m in prec[r])} for r in twice],
            "suggestions": [{"group": ref(g), "places": [ref(cand[(3 * i + j) % len(cand)]) for j in range(min(3, len(cand)))]}
                            for i, g in enumerate(seekg)]}
    # The report's governorates: places by English name then reference,
    # with the number of their links to known groups.
    partners = {}
    for u in all_units:
        if u[0]["g"] is not None and u[0]["ident"] is not None:
            partners[u[0]["ident"]] = partners.get(u[0]["ident"], 0) + 1
    governorates = []
    for c, _ in GOVS:
        ps = sorted((r for r in rep if places[r].get("subdivision") == c),
                    key=lambda r: (places[r]["name_en"].encode(), ref(r).encode()))
        governorates.append({"code": c, "places_total": len(ps), "places": [ref(r) for r in ps],
                             "partners": [partners.get(r, 0) for r in ps]})
    # What list adds to records: per link statement whether its link is
    # confirmed, per superseded place or group record the own record.
    marks = {"confirmed": confirmed,
             "superseded": {ref(k): ref(ident[k]) for k in places if superseded(k)},
             "groups_superseded": {ref(k): ref(gident[k]) for k in groups if gsuperseded(k)}}
    return {"stats": stats, "gaps": gaps, "marks": marks, "governorates": governorates}


def main():
    a = sys.argv[1:]
    if len(a) >= 4 and a[0] == "gen":
        seed = int(a[a.index("--seed") + 1]) if "--seed" in a else 20240501
        gen(a[1], a[2], a[3], seed)
    elif len(a) >= 4 and a[0] == "expect":
        year = int(a[a.index("--year") + 1]) if "--year" in a else time.gmtime().tm_year
        print(json.dumps(expect(a[1], a[2], a[3], "--no-update" in a, year), ensure_ascii=False, sort_keys=True, indent=1))
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
