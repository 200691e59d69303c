#!/usr/bin/env python3
"""A registry for benchmarking search, with the variety of real names
(contrib/bench.sh): the 100 000 records of bench_ingest all read
"Benchmark Village N", a few words in all, which says little about word
matching or "did you mean".  Here 60% are places named like Palestinian
towns, villages and camps -- a prefix word (Beit, Kafr, Deir, ...), a root
of two or three syllables, sometimes the article, sometimes "camp" -- with
an Arabic name and, for some, another spelling; 40% are UK groups named
after a town and a place, with a description.  About 24 000 distinct name
words.  Deterministic (seed 7); no personal names.

  gensearch.py [COUNT] > registry.json      (ready for `twin import`)
"""
import json
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
rnd = random.Random(7)
PRE = ["Beit", "Kafr", "Deir", "Ein", "Khirbet", "Tell", "Jabal", "Wadi", "Umm", "Abu", "Khan", "Ras", "Bir", "Nabi", "Marj"]
PRE_AR = {"Beit": "بيت", "Kafr": "كفر", "Deir": "دير", "Ein": "عين", "Khirbet": "خربة", "Tell": "تل", "Jabal": "جبل",
          "Wadi": "وادي", "Umm": "أم", "Abu": "أبو", "Khan": "خان", "Ras": "رأس", "Bir": "بئر", "Nabi": "النبي", "Marj": "مرج"}
SYL = [("sa", "سا"), ("hour", "حور"), ("ja", "جا"), ("la", "لا"), ("ram", "رام"), ("al", "ال"), ("bi", "بي"), ("reh", "رة"),
       ("nab", "ناب"), ("lus", "لس"), ("qal", "قل"), ("qil", "قيل"), ("ya", "يا"), ("tul", "طول"), ("karm", "كرم"),
       ("da", "دا"), ("har", "هر"), ("iya", "ية"), ("ma", "ما"), ("zra", "زرع"), ("fa", "فا"), ("sul", "صل"), ("tin", "تين"),
       ("ku", "كو"), ("bar", "بر"), ("shu", "شو"), ("yukh", "يوخ"), ("ti", "تي"), ("ba", "با"), ("nun", "نون")]
ALT = [("ou", "u"), ("ee", "i"), ("q", "k"), ("ei", "ay"), ("ah", "a"), ("eh", "a")]
TOWNS = ["Ashford", "Bolton", "Carlisle", "Dundee", "Exeter", "Frome", "Gateshead", "Hexham", "Ilkley", "Jarrow",
         "Kendal", "Ludlow", "Malvern", "Newry", "Oban", "Penrith", "Ripon", "Stroud", "Truro", "Usk", "Whitby", "Yeovil"]
KINDS = ["city", "town", "village", "refugee_camp", "bedouin_community", "neighbourhood"]
out = []
names = []
for i in range(n):
    if i % 10 < 6:
        k = rnd.randint(2, 3)
        parts = [rnd.choice(SYL) for _ in range(k)]
        root = "".join(p[0] for p in parts)
        root_ar = "".join(p[1] for p in parts)
        pre = rnd.choice(PRE)
        en = "%s %s" % (pre, root.capitalize())
        if rnd.random() < 0.3:
            en = "%s al-%s" % (pre, root.capitalize())
        if rnd.random() < 0.15:
            en += " camp"
        body = {"name_en": en, "name_ar": "%s %s" % (PRE_AR[pre], root_ar), "place_kind": rnd.choice(KINDS),
                "country": "PS"}
        if rnd.random() < 0.4:
            alt = en
            a, b = rnd.choice(ALT)
            alt = alt.replace(a, b)
            if alt != en:
                body["other_names"] = [alt]
        names.append(en)
        out.append({"kind": "place", "slot": "p-%d" % i, "body": body})
    else:
        town = rnd.choice(TOWNS)
        partner = rnd.choice(names) if names else "Palestine"
        body = {"name": "%s %s %s" % (town, partner, rnd.choice(["Twinning Association", "Friendship Group", "Link"])),
                "group_kind": "friendship_group", "nation": "england", "local_authority": town,
                "description": "Visits, school exchanges and olive harvest trips with %s." % partner}
        out.append({"kind": "group", "slot": "g-%d" % i, "body": body})
json.dump(out, sys.stdout, ensure_ascii=False)
