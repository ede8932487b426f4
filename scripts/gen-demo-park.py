#!/usr/bin/python3
"""Generate the demo park model (docs/park-model.md) and its site plan.

    /usr/bin/python3 scripts/gen-demo-park.py

writes demo/park.json, demo/site-plan.geojson, demo/devices.csv and demo/points.csv. Standard
library only; a fixed seed, sorted keys and id-ordered arrays make every run byte-identical.
The script checks its own invariants (counts, unique ids/MNs/phones/series, references, USCC check
digits, geometry inside the park boundary) and prints one summary line.

Everything here is fictional: the park, the enterprises (all named 示范…), the people and their
phone numbers (local numbers starting with 0, which no real Chinese landline has), the plates.
"""

import csv
import io
import json
import math
import os
import random
import re

SEED = 20240618
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "demo")

# ---------------------------------------------------------------------------------------------
# Geography: a local metric frame (x east, y north, metres) around the park centre.

LON0, LAT0 = 118.17, 36.18
_phi = math.radians(LAT0)
M_PER_DEG_LAT = 111132.954 - 559.822 * math.cos(2 * _phi) + 1.175 * math.cos(4 * _phi)
M_PER_DEG_LON = 111412.84 * math.cos(_phi) - 93.5 * math.cos(3 * _phi)


def ll(x, y):
    """Local metres -> [lon, lat], 6 decimals (~0.1 m)."""
    return [round(LON0 + x / M_PER_DEG_LON, 6), round(LAT0 + y / M_PER_DEG_LAT, 6)]


def xy_of(p):
    """[lon, lat] -> local metres (the inverse of ll, to its rounding)."""
    return ((p[0] - LON0) * M_PER_DEG_LON, (p[1] - LAT0) * M_PER_DEG_LAT)


def rect(x0, y0, x1, y1):
    """Axis-aligned rectangle as a counter-clockwise ring (local metres), not closed."""
    xa, xb = min(x0, x1), max(x0, x1)
    ya, yb = min(y0, y1), max(y0, y1)
    return [(xa, ya), (xb, ya), (xb, yb), (xa, yb)]


def ring_ll(ring):
    return [ll(x, y) for x, y in ring]


def closed(ring):
    return ring + [ring[0]]


def signed_area(ring):
    s = 0.0
    for i in range(len(ring)):
        x0, y0 = ring[i]
        x1, y1 = ring[(i + 1) % len(ring)]
        s += x0 * y1 - x1 * y0
    return s / 2


def point_in_ring(p, ring):
    x, y = p
    inside = False
    n = len(ring)
    for i in range(n):
        x0, y0 = ring[i]
        x1, y1 = ring[(i + 1) % n]
        if (y0 > y) != (y1 > y):
            xi = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
            if x < xi:
                inside = not inside
    return inside


def centre(ring):
    xs = [p[0] for p in ring]
    ys = [p[1] for p in ring]
    return ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)


# Park boundary, counter-clockwise from the south-west corner. Gates sit on four of its vertices.
GATE_S, GATE_E, GATE_N, GATE_W = (-400, -1500), (2000, 0), (350, 1500), (-2000, 0)
BOUNDARY = [
    (-2000, -1500), (-1200, -1520), GATE_S, (500, -1530), (1300, -1510), (2000, -1500),
    (2030, -700), GATE_E, (2020, 800), (1950, 1350), (1750, 1500), GATE_N, (-600, 1530),
    (-1500, 1490), (-2000, 1450), (-2020, 700), GATE_W, (-2030, -800),
]

# Street grid. 经路 run north-south, 纬路 east-west; plots are set back 30 m from road centre lines.
X_ROADS = {"经一路": -1150, "经二路": -400, "经三路": 350, "经四路": 1100}
Y_ROADS = {"纬一路": 700, "化工大道": 0, "纬二路": -700}
X_EDGES = [-1770, -1150, -400, 350, 1100, 1940]   # block edges (outer ones: green belt / boundary)
Y_EDGES = [-1440, -700, 0, 700, 1340]
BLOCK_ROAD_N = {0: "纬二路", 1: "化工大道", 2: "纬一路", 3: "滨河路"}
SETBACK = 30
GREEN_WEST = rect(-1980, -1430, -1790, 1300)       # 西侧防护绿带 (school side)
SCHOOL = rect(-2300, -1320, -2120, -1120)          # outside the park: 示范镇中学


def block_rect(col, row, half=None):
    x0 = X_EDGES[col] + (SETBACK if col > 0 else 0)
    x1 = X_EDGES[col + 1] - (SETBACK if col < 4 else 0)
    y0 = Y_EDGES[row] + (SETBACK if row > 0 else 0)
    y1 = Y_EDGES[row + 1] - (SETBACK if row < 3 else 0)
    mid = (x0 + x1) / 2
    if half == "W":
        x1 = mid - 10
    elif half == "E":
        x0 = mid + 10
    return (x0, y0, x1, y1)


def front_of(row):
    """Rows 0-1 face the road north of them, rows 2-3 the road south of them."""
    return "N" if row in (0, 1) else "S"


def front_road(row):
    return {0: "纬二路", 1: "化工大道", 2: "化工大道", 3: "纬一路"}[row]


# ---------------------------------------------------------------------------------------------
# GB 32100-2015 unified social credit code and GB 11714 organisation code.

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def uscc_check(code17):
    s = sum(USCC_CHARS.index(c) * w for c, w in zip(code17, USCC_W))
    return USCC_CHARS[(31 - s % 31) % 31]


def uscc_valid(code):
    return (len(code) == 18 and all(c in USCC_CHARS for c in code)
            and uscc_check(code[:17]) == code[17])


def org_check(code8):
    w = [3, 7, 9, 10, 5, 8, 4, 2]
    v = lambda c: int(c) if c.isdigit() else ord(c) - 55
    c = 11 - sum(v(ch) * wi for ch, wi in zip(code8, w)) % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def make_uscc(rng, newstyle):
    letters = "ABCDEFGHJKLMNPQRTUWXY"
    if newstyle:       # registered after 2015: organisation code part starts with MA
        body = "MA" + rng.choice("3456789") + "".join(
            rng.choice("0123456789" + letters) for _ in range(5))
    else:
        body = rng.choice(["16", "26", "73", "75", "79"]) + "".join(
            rng.choice("0123456789") for _ in range(6))
    oc = body + org_check(body)
    while not all(c in USCC_CHARS for c in oc):   # the org check can only yield digits or X
        raise AssertionError(oc)
    c17 = "91" + "370323" + oc
    return c17 + uscc_check(c17)


assert uscc_valid("91350100M000100Y43"), "USCC self-test"

# ---------------------------------------------------------------------------------------------
# Domain tables.

GAS = {  # quantity: (name, unit, setpoints, range, deadband)
    "combustible": ("可燃气体", "%LEL", {"alarm1": 25, "alarm2": 50}, [0, 100], 1),
    "h2s": ("硫化氢", "ppm", {"alarm1": 7.1, "alarm2": 14.1}, [0, 100], 0.5),
    "co": ("一氧化碳", "ppm", {"alarm1": 17.2, "alarm2": 34.3}, [0, 1000], 1),
    "cl2": ("氯气", "ppm", {"alarm1": 0.34, "alarm2": 0.68}, [0, 10], 0.05),
    "nh3": ("氨气", "ppm", {"alarm1": 28.2, "alarm2": 56.5}, [0, 100], 2),
    "o2": ("氧气", "%VOL", {"lo": 19.5, "hi": 23.5}, [0, 30], 0.2),
}
GAS_ABBR = {"comb": "combustible", "h2s": "h2s", "co": "co", "cl2": "cl2", "nh3": "nh3", "o2": "o2"}

# Tank kinds: substance, shape, height (or diameter) m, fill limits, temperature range and
# setpoints, pressure range and setpoints (kPa gauge).
ATM_P = ([-2, 10], {"hi": 1.8, "hihi": 2.2, "lo": -0.3})
TANKS = {
    "LNG": ("液化天然气", "立式真空储罐", 14.0, 0.85, 0.9, [-196, 50], {"hi": -120, "hihi": -100},
            [0, 1600], {"hi": 650, "hihi": 750}),
    "液氯": ("液氯", "卧式储罐", 2.8, 0.8, 0.85, [-40, 60], {"hi": 40, "hihi": 45},
           [0, 2500], {"hi": 1000, "hihi": 1200}),
    "盐酸": ("31%盐酸", "立式储罐", 8.0, 0.85, 0.9, [-20, 60], {"hi": 40, "hihi": 50}) + ATM_P,
    "液碱": ("32%液碱", "立式储罐", 10.0, 0.85, 0.9, [0, 100], {"hi": 60, "hihi": 70}) + ATM_P,
    "甲醇": ("甲醇", "内浮顶储罐", 15.0, 0.85, 0.9, [-20, 60], {"hi": 35, "hihi": 40}) + ATM_P,
    "汽油": ("汽油", "内浮顶储罐", 17.0, 0.85, 0.9, [-20, 60], {"hi": 35, "hihi": 40}) + ATM_P,
    "柴油": ("柴油", "拱顶储罐", 14.0, 0.85, 0.9, [-20, 80], {"hi": 45, "hihi": 55}) + ATM_P,
    "甲苯": ("甲苯", "内浮顶储罐", 12.0, 0.85, 0.9, [-20, 60], {"hi": 35, "hihi": 40}) + ATM_P,
    "二甲苯": ("二甲苯", "内浮顶储罐", 12.0, 0.85, 0.9, [-20, 60], {"hi": 35, "hihi": 40}) + ATM_P,
    "LPG": ("液化石油气", "球罐", 12.3, 0.8, 0.85, [-40, 60], {"hi": 40, "hihi": 45},
            [0, 2500], {"hi": 1300, "hihi": 1500}),
    "液氨": ("液氨", "卧式储罐", 3.2, 0.8, 0.85, [-40, 60], {"hi": 40, "hihi": 45},
           [0, 2500], {"hi": 1400, "hihi": 1600}),
    "液氧": ("液氧", "立式真空储罐", 18.0, 0.85, 0.9, [-200, 50], {"hi": -170, "hihi": -160},
           [0, 1600], {"hi": 750, "hihi": 800}),
    "液氮": ("液氮", "立式真空储罐", 18.0, 0.85, 0.9, [-200, 50], {"hi": -180, "hihi": -170},
           [0, 1600], {"hi": 750, "hihi": 800}),
    "辛醇": ("2-乙基己醇", "拱顶储罐", 12.0, 0.85, 0.9, [-20, 80], {"hi": 45, "hihi": 55}) + ATM_P,
    "DOTP": ("对苯二甲酸二辛酯", "拱顶储罐", 12.0, 0.85, 0.9, [0, 120], {"hi": 60, "hihi": 70}) + ATM_P,
    "乙醇": ("乙醇", "内浮顶储罐", 10.0, 0.85, 0.9, [-20, 60], {"hi": 35, "hihi": 40}) + ATM_P,
    "丙酮": ("丙酮", "内浮顶储罐", 10.0, 0.85, 0.9, [-20, 60], {"hi": 30, "hihi": 35}) + ATM_P,
    "乙酸乙酯": ("乙酸乙酯", "内浮顶储罐", 10.0, 0.85, 0.9, [-20, 60], {"hi": 35, "hihi": 40}) + ATM_P,
    "正丁醇": ("正丁醇", "拱顶储罐", 10.0, 0.85, 0.9, [-20, 60], {"hi": 40, "hihi": 45}) + ATM_P,
    "氨水": ("20%氨水", "立式储罐", 8.0, 0.85, 0.9, [-20, 60], {"hi": 35, "hihi": 40}) + ATM_P,
    "苯乙烯": ("苯乙烯", "内浮顶储罐", 12.0, 0.85, 0.9, [-20, 60], {"hi": 25, "hihi": 30}) + ATM_P,
    "甲醛": ("37%甲醛溶液", "立式储罐", 10.0, 0.85, 0.9, [0, 80], {"hi": 60, "hihi": 65, "lo": 35})
           + ATM_P,
    "氯甲烷": ("氯甲烷", "卧式储罐", 3.0, 0.8, 0.85, [-40, 60], {"hi": 40, "hihi": 45},
            [0, 2500], {"hi": 800, "hihi": 1000}),
}

# Major hazard source grade from R (GB 18218-2018): >=100 一级, 50-100 二级, 10-50 三级, <10 四级.
def grade_of(r):
    return 1 if r >= 100 else 2 if r >= 50 else 3 if r >= 10 else 4


# ---------------------------------------------------------------------------------------------
# The enterprises. areas: (code, name, kind, detectors "gas:count ..."); inst: (code, area, name,
# kind, (r_value, substances) or None); tanks: (area, tank kind, count); kilns: area codes;
# cems: (area, emission profile); ww: (outlet name, profile) or None.

ENTERPRISES = [
    dict(id="E01", name="示范药用玻璃有限公司", industry="医药玻璃", block=(4, 0, None), new=False,
         areas=[("PU1", "熔制车间", "production", "comb:12 co:8 o2:2"),
                ("PU2", "管制瓶车间", "production", "comb:8 co:4"),
                ("PU3", "模制瓶车间", "production", "comb:8 co:4"),
                ("UT1", "天然气调压站", "utility", "comb:6"),
                ("TF1", "LNG气化站", "tank_farm", "comb:6"),
                ("WH1", "原料及成品库", "warehouse", ""),
                ("LD1", "装卸区", "loading", "comb:2"),
                ("OF1", "综合楼及中控室", "office", "")],
         inst=[("I01", "PU1", "1#、2#玻璃熔窑", "kiln", None),
               ("I02", "TF1", "LNG气化站储罐区", "tank_farm", (4.6, ["天然气"]))],
         tanks=[("TF1", "LNG", 2)], kilns=["PU1", "PU1"], cems=[("PU1", "kiln")], ww=None),
    dict(id="E02", name="示范玻璃纤维有限公司", industry="玻璃纤维", block=(4, 1, None), new=False,
         areas=[("PU1", "池窑车间", "production", "comb:12 co:8 o2:2"),
                ("PU2", "拉丝车间", "production", "comb:4 co:2"),
                ("PU3", "浸润剂配制车间", "production", "comb:6"),
                ("UT1", "天然气调压站", "utility", "comb:6"),
                ("UT2", "纯氧站", "utility", "o2:4"),
                ("TF1", "LNG储罐区", "tank_farm", "comb:6"),
                ("WH1", "成品库", "warehouse", ""),
                ("LD1", "装卸区", "loading", "comb:2"),
                ("OF1", "综合楼及中控室", "office", "")],
         inst=[("I01", "PU1", "玻璃纤维池窑", "kiln", None),
               ("I02", "TF1", "LNG储罐区", "tank_farm", (4.1, ["天然气"]))],
         tanks=[("TF1", "LNG", 2)], kilns=["PU1"], cems=[("PU1", "kiln")], ww=None),
    dict(id="E03", name="示范陶瓷纤维有限公司", industry="陶瓷纤维", block=(0, 1, None), new=False,
         areas=[("PU1", "电熔车间", "production", "co:6 comb:4"),
                ("PU2", "针刺毯车间", "production", "comb:2 co:2"),
                ("PU3", "真空成型车间", "production", "comb:3"),
                ("PU4", "燃气热处理炉区", "production", "comb:6 co:4"),
                ("WH1", "原料库", "warehouse", ""),
                ("LD1", "装卸区", "loading", "comb:1"),
                ("OF1", "综合楼", "office", "")],
         inst=[("I01", "PU4", "燃气热处理炉", "furnace", None)],
         tanks=[], kilns=[], cems=[], ww=None),
    dict(id="E04", name="示范氯碱化工有限公司", industry="氯碱", block=(1, 2, None), new=False,
         areas=[("PU1", "离子膜电解车间", "production", "cl2:12 comb:8"),
                ("PU2", "氯气处理及液化工段", "production", "cl2:14"),
                ("PU3", "氯化氢合成及盐酸工段", "production", "cl2:6 comb:6"),
                ("TF1", "液氯储罐区", "tank_farm", "cl2:12"),
                ("TF2", "酸碱罐区", "tank_farm", "cl2:2"),
                ("UT1", "事故氯吸收装置", "utility", "cl2:4"),
                ("LD1", "液氯充装及装卸区", "loading", "cl2:8"),
                ("WH1", "仓库", "warehouse", ""),
                ("OF1", "综合楼及中控室", "office", "")],
         inst=[("I01", "TF1", "液氯储罐区", "tank_farm", (136.0, ["氯气"])),
               ("I02", "PU1", "离子膜电解装置", "reactor", (18.5, ["氯气", "氢气"])),
               ("I03", "PU3", "氯化氢合成炉", "reactor", (12.2, ["氯气", "氢气"])),
               ("I04", "TF2", "酸碱罐区", "tank_farm", None)],
         tanks=[("TF1", "液氯", 4), ("TF2", "盐酸", 3), ("TF2", "液碱", 3)],
         kilns=[], cems=[], ww=("污水总排口", "indirect")),
    dict(id="E05", name="示范塑料助剂有限公司", industry="PVC助剂", block=(1, 1, "W"), new=True,
         areas=[("PU1", "钙锌稳定剂车间", "production", "comb:4"),
                ("PU2", "有机锡稳定剂车间", "production", "comb:6 h2s:4"),
                ("PU3", "增塑剂车间", "production", "comb:8"),
                ("TF1", "原料罐区", "tank_farm", "comb:8"),
                ("WH1", "危化品库", "warehouse", "comb:3"),
                ("LD1", "装卸区", "loading", "comb:2"),
                ("OF1", "综合楼", "office", "")],
         inst=[("I01", "TF1", "原料罐区", "tank_farm", (14.8, ["甲醇"])),
               ("I02", "PU2", "有机锡合成反应釜", "reactor", None)],
         tanks=[("TF1", "甲醇", 2), ("TF1", "辛醇", 2), ("TF1", "DOTP", 2)],
         kilns=[], cems=[], ww=None),
    dict(id="E06", name="示范制药有限公司", industry="制药", block=(3, 1, "W"), new=False,
         areas=[("PU1", "合成一车间", "production", "comb:8 nh3:3 h2s:2"),
                ("PU2", "合成二车间", "production", "comb:8 nh3:2 h2s:2"),
                ("PU3", "精烘包车间", "production", "comb:4"),
                ("TF1", "溶剂罐区", "tank_farm", "comb:6"),
                ("UT1", "液氨站", "utility", "nh3:4"),
                ("UT2", "污水预处理站", "utility", "h2s:3 nh3:2 comb:1"),
                ("WH1", "甲类仓库", "warehouse", "comb:3"),
                ("LD1", "装卸区", "loading", "comb:2"),
                ("OF1", "综合楼及中控室", "office", "")],
         inst=[("I01", "TF1", "溶剂罐区", "tank_farm", (21.4, ["甲醇", "乙醇", "丙酮"])),
               ("I02", "PU1", "合成一车间反应釜组", "reactor", (6.3, ["甲醇", "液氨"])),
               ("I03", "WH1", "甲类仓库", "warehouse", (3.2, ["甲醇", "四氢呋喃"]))],
         tanks=[("TF1", "甲醇", 2), ("TF1", "乙醇", 1), ("TF1", "丙酮", 1)],
         kilns=[], cems=[], ww=("污水总排口", "indirect")),
    dict(id="E07", name="示范生物制药有限公司", industry="制药", block=(3, 1, "E"), new=True,
         areas=[("PU1", "发酵车间", "production", "nh3:4 o2:2"),
                ("PU2", "提取车间", "production", "comb:6"),
                ("PU3", "精制车间", "production", "comb:4"),
                ("UT1", "溶剂回收装置", "utility", "comb:4"),
                ("UT2", "污水预处理站", "utility", "h2s:3 nh3:2"),
                ("WH1", "危化品库", "warehouse", "comb:2"),
                ("LD1", "装卸区", "loading", "comb:1"),
                ("OF1", "综合楼", "office", "")],
         inst=[("I01", "UT1", "溶剂回收精馏塔", "other", None)],
         tanks=[], kilns=[], cems=[], ww=None),
    dict(id="E08", name="示范精细化工有限公司", industry="精细化工", block=(2, 2, "W"), new=False,
         areas=[("PU1", "加氢车间", "production", "comb:8 co:2"),
                ("PU2", "氯化车间", "production", "cl2:6 comb:4"),
                ("PU3", "缩合车间", "production", "comb:4"),
                ("TF1", "甲类罐区", "tank_farm", "comb:8"),
                ("WH1", "甲类仓库", "warehouse", "comb:3"),
                ("LD1", "装卸区", "loading", "comb:2"),
                ("OF1", "综合楼及中控室", "office", "")],
         inst=[("I01", "TF1", "甲类罐区", "tank_farm", (33.7, ["甲苯", "甲醇", "二甲苯"])),
               ("I02", "PU1", "加氢反应装置", "reactor", (11.6, ["氢气"])),
               ("I03", "PU2", "氯化反应釜", "reactor", (8.4, ["氯气"]))],
         tanks=[("TF1", "甲苯", 2), ("TF1", "甲醇", 2), ("TF1", "二甲苯", 2)],
         kilns=[], cems=[], ww=None),
    dict(id="E09", name="示范新材料科技有限公司", industry="精细化工", block=(2, 2, "E"), new=True,
         areas=[("PU1", "聚合车间", "production", "comb:6"),
                ("PU2", "造粒车间", "production", "comb:2"),
                ("PU3", "中试车间", "production", "comb:3 co:2 nh3:2"),
                ("WH1", "原料库", "warehouse", "comb:2"),
                ("LD1", "装卸区", "loading", "comb:1"),
                ("OF1", "研发楼", "office", "")],
         inst=[("I01", "PU1", "聚合反应釜", "reactor", None)],
         tanks=[], kilns=[], cems=[], ww=None),
    dict(id="E10", name="示范危化品仓储有限公司", industry="危化品仓储", block=(2, 1, None), new=False,
         areas=[("TF1", "甲类罐区", "tank_farm", "comb:20"),
                ("TF2", "丙类罐区", "tank_farm", "comb:8"),
                ("TF3", "液化烃球罐区", "tank_farm", "comb:10"),
                ("UT1", "泵房", "utility", "comb:6 h2s:2"),
                ("WH1", "甲类仓库", "warehouse", "comb:6"),
                ("LD1", "汽车装卸栈台", "loading", "comb:10"),
                ("OF1", "综合楼及中控室", "office", "")],
         inst=[("I01", "TF1", "甲类罐区", "tank_farm", (72.5, ["汽油", "甲醇", "甲苯"])),
               ("I02", "TF2", "丙类罐区", "tank_farm", None),
               ("I03", "TF3", "液化烃球罐区", "tank_farm", (88.0, ["液化石油气"])),
               ("I04", "WH1", "甲类仓库", "warehouse", (5.1, ["丙酮", "乙酸乙酯"]))],
         tanks=[("TF1", "汽油", 4), ("TF1", "甲醇", 4), ("TF1", "甲苯", 2), ("TF2", "柴油", 4),
                ("TF3", "LPG", 4)],
         kilns=[], cems=[], ww=None),
    dict(id="E11", name="示范医药中间体有限公司", industry="医药中间体", block=(0, 2, "E"), new=True,
         areas=[("PU1", "一车间", "production", "comb:6 nh3:2"),
                ("PU2", "二车间", "production", "comb:6 h2s:2 cl2:2"),
                ("TF1", "罐区", "tank_farm", "comb:4"),
                ("WH1", "甲类仓库", "warehouse", "comb:2"),
                ("LD1", "装卸区", "loading", "comb:1"),
                ("OF1", "综合楼", "office", "")],
         inst=[("I01", "TF1", "罐区", "tank_farm", (7.9, ["甲醇", "乙酸乙酯", "甲苯"]))],
         tanks=[("TF1", "甲醇", 1), ("TF1", "乙酸乙酯", 1), ("TF1", "甲苯", 1)],
         kilns=[], cems=[], ww=None),
    dict(id="E12", name="示范化学试剂有限公司", industry="化学试剂", block=(2, 0, "E"), new=True,
         areas=[("PU1", "分装车间", "production", "comb:6 h2s:1 nh3:1"),
                ("PU2", "提纯车间", "production", "comb:4"),
                ("WH1", "危化品库", "warehouse", "comb:6"),
                ("LD1", "装卸区", "loading", "comb:1"),
                ("OF1", "综合楼", "office", "")],
         inst=[("I01", "WH1", "危化品库", "warehouse", (2.7, ["甲醇", "乙醇", "丙酮"]))],
         tanks=[], kilns=[], cems=[], ww=None),
    dict(id="E13", name="示范工业气体有限公司", industry="工业气体", block=(3, 0, "W"), new=False,
         areas=[("PU1", "空分装置", "production", "o2:8"),
                ("PU2", "充装车间", "production", "o2:4 comb:4 nh3:2"),
                ("TF1", "低温储罐区", "tank_farm", "o2:4"),
                ("TF2", "液氨储罐区", "tank_farm", "nh3:8"),
                ("LD1", "装卸区", "loading", "comb:1 nh3:2 o2:2"),
                ("OF1", "综合楼", "office", "")],
         inst=[("I01", "TF1", "低温储罐区", "tank_farm", (3.9, ["液氧"])),
               ("I02", "TF2", "液氨储罐区", "tank_farm", (26.0, ["液氨"]))],
         tanks=[("TF1", "液氧", 2), ("TF1", "液氮", 1), ("TF2", "液氨", 2)],
         kilns=[], cems=[], ww=None),
    dict(id="E14", name="示范热电有限公司", industry="热电", block=(0, 0, None), new=False,
         areas=[("PU1", "锅炉房", "production", "co:10 comb:6"),
                ("PU2", "汽机房", "production", "comb:2"),
                ("UT1", "脱硝氨水站", "utility", "nh3:6"),
                ("TF1", "氨水罐区", "tank_farm", "nh3:4"),
                ("UT2", "天然气调压站", "utility", "comb:4"),
                ("UT3", "输煤栈桥", "utility", "co:2"),
                ("LD1", "装卸区", "loading", "nh3:1"),
                ("OF1", "综合楼及集控室", "office", "")],
         inst=[("I01", "PU1", "1#、2#循环流化床锅炉", "furnace", None),
               ("I02", "TF1", "氨水罐区", "tank_farm", None)],
         tanks=[("TF1", "氨水", 2)], kilns=[], cems=[("PU1", "power"), ("PU1", "power")],
         ww=None),
    dict(id="E15", name="示范环保水务有限公司", industry="污水处理", block=(3, 3, None), new=True,
         areas=[("PU1", "预处理及调节池", "production", "h2s:6 nh3:2 comb:2"),
                ("PU2", "生化池", "production", "h2s:4 nh3:2"),
                ("PU3", "污泥处理车间", "production", "h2s:4 nh3:2 comb:2"),
                ("UT1", "加药间", "utility", "cl2:2"),
                ("UT2", "提升泵房", "utility", "h2s:3 o2:2"),
                ("OF1", "综合楼及中控室", "office", "")],
         inst=[("I01", "PU3", "污泥厌氧消化罐", "other", None)],
         tanks=[], kilns=[], cems=[], ww=("园区污水处理厂总排口", "direct")),
    dict(id="E16", name="示范涂料有限公司", industry="涂料", block=(1, 1, "E"), new=True,
         areas=[("PU1", "调漆车间", "production", "comb:10"),
                ("PU2", "树脂车间", "production", "comb:6"),
                ("TF1", "溶剂罐区", "tank_farm", "comb:6"),
                ("WH1", "成品库", "warehouse", "comb:4"),
                ("LD1", "装卸区", "loading", "comb:2"),
                ("OF1", "综合楼", "office", "")],
         inst=[("I01", "TF1", "溶剂罐区", "tank_farm", (16.3, ["二甲苯", "乙酸乙酯", "正丁醇"]))],
         tanks=[("TF1", "二甲苯", 2), ("TF1", "乙酸乙酯", 1), ("TF1", "正丁醇", 1)],
         kilns=[], cems=[], ww=None),
    dict(id="E17", name="示范树脂有限公司", industry="合成树脂", block=(3, 2, "W"), new=False,
         areas=[("PU1", "聚合车间", "production", "comb:8"),
                ("PU2", "甲醛车间", "production", "comb:4 co:2"),
                ("TF1", "罐区", "tank_farm", "comb:8"),
                ("WH1", "仓库", "warehouse", "comb:2"),
                ("LD1", "装卸区", "loading", "comb:2"),
                ("OF1", "综合楼", "office", "")],
         inst=[("I01", "TF1", "罐区", "tank_farm", (24.9, ["苯乙烯", "甲醇", "甲醛"])),
               ("I02", "PU2", "甲醛氧化反应器", "reactor", (9.2, ["甲醇", "甲醛"]))],
         tanks=[("TF1", "苯乙烯", 2), ("TF1", "甲醇", 2), ("TF1", "甲醛", 1)],
         kilns=[], cems=[], ww=None),
    dict(id="E18", name="示范农药有限公司", industry="农药", block=(3, 2, "E"), new=False,
         areas=[("PU1", "原药合成车间", "production", "comb:6 cl2:4 h2s:2"),
                ("PU2", "制剂车间", "production", "comb:4"),
                ("TF1", "罐区", "tank_farm", "comb:4"),
                ("UT1", "液氯汽化间", "utility", "cl2:6"),
                ("UT2", "尾气处理装置", "utility", "h2s:2 nh3:2"),
                ("WH1", "甲类仓库", "warehouse", "comb:2"),
                ("LD1", "装卸区", "loading", "comb:1"),
                ("OF1", "综合楼", "office", "")],
         inst=[("I01", "TF1", "罐区", "tank_farm", (11.8, ["甲醇", "甲苯"])),
               ("I02", "UT1", "液氯汽化间", "other", (42.0, ["氯气"])),
               ("I03", "PU1", "氯化反应釜组", "reactor", None)],
         tanks=[("TF1", "甲醇", 2), ("TF1", "甲苯", 2)],
         kilns=[], cems=[], ww=None),
    dict(id="E19", name="示范玻璃制品有限公司", industry="日用玻璃", block=(3, 0, "E"), new=True,
         areas=[("PU1", "熔制车间", "production", "comb:8 co:4"),
                ("PU2", "成型车间", "production", "comb:4 co:2"),
                ("UT1", "天然气调压站", "utility", "comb:4"),
                ("WH1", "成品库", "warehouse", ""),
                ("LD1", "装卸区", "loading", "comb:1"),
                ("OF1", "综合楼", "office", "")],
         inst=[("I01", "PU1", "玻璃熔窑", "kiln", None)],
         tanks=[], kilns=["PU1"], cems=[], ww=None),
    dict(id="E20", name="示范硅材料有限公司", industry="有机硅", block=(4, 2, None), new=False,
         areas=[("PU1", "单体合成车间", "production", "comb:10"),
                ("PU2", "精馏车间", "production", "comb:8"),
                ("PU3", "氯甲烷车间", "production", "comb:6"),
                ("PU4", "水解车间", "production", "comb:4 cl2:2"),
                ("TF1", "罐区", "tank_farm", "comb:8"),
                ("WH1", "仓库", "warehouse", "comb:2"),
                ("LD1", "装卸区", "loading", "comb:3"),
                ("OF1", "综合楼及中控室", "office", "")],
         inst=[("I01", "TF1", "氯甲烷及甲醇罐区", "tank_farm", (57.3, ["氯甲烷", "甲醇"])),
               ("I02", "PU1", "甲基氯硅烷合成流化床", "reactor", (19.4, ["氯甲烷"]))],
         tanks=[("TF1", "氯甲烷", 2), ("TF1", "甲醇", 2)],
         kilns=[], cems=[], ww=None),
    dict(id="E21", name="示范橡塑助剂有限公司", industry="橡胶助剂", block=(0, 2, "W"), new=False,
         areas=[("PU1", "促进剂车间", "production", "h2s:6 comb:6"),
                ("PU2", "防老剂车间", "production", "comb:4 nh3:2"),
                ("UT1", "尾气吸收装置", "utility", "h2s:4"),
                ("WH1", "仓库", "warehouse", "comb:2"),
                ("LD1", "装卸区", "loading", "comb:1"),
                ("OF1", "综合楼", "office", "")],
         inst=[("I01", "PU1", "促进剂合成反应釜组", "reactor", (8.8, ["二硫化碳"]))],
         tanks=[], kilns=[], cems=[], ww=None),
    dict(id="E22", name="示范耐火材料有限公司", industry="耐火材料", block=(1, 0, "W"), new=False,
         areas=[("PU1", "隧道窑车间", "production", "co:6 comb:6"),
                ("PU2", "成型车间", "production", "comb:2"),
                ("UT1", "天然气调压站", "utility", "comb:3"),
                ("WH1", "成品库", "warehouse", ""),
                ("LD1", "装卸区", "loading", "comb:1"),
                ("OF1", "综合楼", "office", "")],
         inst=[("I01", "PU1", "隧道窑", "kiln", None)],
         tanks=[], kilns=[], cems=[], ww=None),
    dict(id="E23", name="示范电子化学品有限公司", industry="电子化学品", block=(4, 3, "W"), new=True,
         areas=[("PU1", "提纯车间", "production", "comb:4 nh3:4"),
                ("PU2", "分装车间", "production", "comb:2 nh3:2 cl2:2"),
                ("WH1", "危化品库", "warehouse", "comb:2"),
                ("LD1", "装卸区", "loading", "comb:1 nh3:1"),
                ("OF1", "综合楼", "office", "")],
         inst=[("I01", "PU1", "电子级氨水提纯装置", "other", None)],
         tanks=[], kilns=[], cems=[], ww=None),
    dict(id="E24", name="示范固废处置有限公司", industry="危废处置", block=(2, 3, None), new=True,
         areas=[("PU1", "焚烧车间", "production", "co:6 comb:4 h2s:2"),
                ("PU2", "预处理车间", "production", "comb:6 h2s:2 nh3:2"),
                ("WH1", "危废暂存库", "warehouse", "comb:6 h2s:2 nh3:2"),
                ("LD1", "装卸区", "loading", "comb:2"),
                ("OF1", "综合楼及中控室", "office", "")],
         inst=[("I01", "PU1", "回转窑焚烧炉", "furnace", None),
               ("I02", "WH1", "危废暂存库", "warehouse", (4.4, ["废有机溶剂"]))],
         tanks=[], kilns=[], cems=[("PU1", "incinerator")], ww=None),
]

# Park-owned land use.
PARKING = rect(-650, -1400, -430, -1180)                # 危化品车辆专用停车场, on 经二路 by the south gate
RESCUE = rect(-765, -1130, -430, -730)                  # 应急救援中心及消防站
CENTER = rect(-370, -1440, -35, -730)                   # 园区管委会及智慧监管中心
RESERVED = [("预留发展用地（一）", rect(-1770, 730, -1180, 1340)),
            ("预留发展用地（二）", rect(-1120, 730, -430, 1340))]
GREEN_NE = rect(1525, 730, 1940, 1340)                  # 东北生态绿地
RIVER = [(-2400, 1700), (-1800, 1640), (-1200, 1680), (-600, 1620), (0, 1650), (600, 1610),
         (1200, 1640), (1700, 1600), (2050, 1500), (2300, 1380)]

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐韩冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "强", "军", "洋", "勇", "艳", "杰", "涛", "明", "超",
         "秀英", "建华", "志强", "海燕", "国栋", "立新", "晓东", "红梅", "春雷", "玉兰", "德胜",
         "文博", "子涵", "新民", "振华"]
CARRIERS = ["示范顺达危货运输有限公司", "示范通运化工物流有限公司", "示范安达危险品运输有限公司",
            "示范恒通物流有限公司", "示范园区危化品运输有限公司"]
# (cargo, UN number, class) by enterprise served.
CARGO = {
    "液氯": ("UN1017", "2.3"), "盐酸": ("UN1789", "8"), "氢氧化钠溶液": ("UN1824", "8"),
    "汽油": ("UN1203", "3"), "甲醇": ("UN1230", "3"), "柴油": ("UN1202", "3"),
    "甲苯": ("UN1294", "3"), "二甲苯": ("UN1307", "3"), "液化石油气": ("UN1075", "2.1"),
    "液氨": ("UN1005", "2.3"), "液氧": ("UN1073", "2.2"), "液化天然气": ("UN1972", "2.1"),
    "乙醇": ("UN1170", "3"), "丙酮": ("UN1090", "3"), "氨水": ("UN2672", "8"),
    "乙酸乙酯": ("UN1173", "3"), "苯乙烯": ("UN2055", "3"), "甲醛溶液": ("UN2209", "8"),
    "氯甲烷": ("UN1063", "2.1"), "硫酸": ("UN1830", "8"),
}
VEHICLE_PLAN = [  # (enterprise, cargo, count)
    ("E04", "液氯", 5), ("E04", "盐酸", 3), ("E04", "氢氧化钠溶液", 3),
    ("E10", "汽油", 5), ("E10", "甲醇", 4), ("E10", "柴油", 3), ("E10", "甲苯", 2),
    ("E10", "液化石油气", 4), ("E13", "液氨", 3), ("E13", "液氧", 2),
    ("E01", "液化天然气", 2), ("E02", "液化天然气", 2), ("E05", "甲醇", 2),
    ("E06", "甲醇", 1), ("E06", "丙酮", 1), ("E06", "液氨", 1), ("E07", "乙醇", 1),
    ("E08", "甲苯", 1), ("E08", "二甲苯", 1), ("E14", "氨水", 2), ("E15", "氢氧化钠溶液", 1),
    ("E16", "二甲苯", 1), ("E16", "乙酸乙酯", 1), ("E17", "苯乙烯", 1), ("E17", "甲醛溶液", 1),
    ("E18", "甲醇", 1), ("E20", "氯甲烷", 2), ("E21", "硫酸", 1), ("E11", "甲醇", 1),
]

HJ212_PROFILES = {
    # code: (quantity, name, unit, range, setpoints)
    "air": [
        ("a21026", "so2", "二氧化硫", "μg/m3", [0, 2000], {"limit": 500}),
        ("a21004", "no2", "二氧化氮", "μg/m3", [0, 1000], {"limit": 200}),
        ("a21002", "nox", "氮氧化物", "μg/m3", [0, 1000], {"limit": 250}),
        ("a21005", "co", "一氧化碳", "mg/m3", [0, 50], {"limit": 10}),
        ("a05024", "o3", "臭氧", "μg/m3", [0, 1000], {"limit": 200}),
        ("a34002", "pm10", "PM10", "μg/m3", [0, 1000], {"limit": 150}),
        ("a34004", "pm25", "PM2.5", "μg/m3", [0, 1000], {"limit": 75}),
        ("a01001", "temperature", "气温", "°C", [-40, 60], {}),
        ("a01002", "humidity", "相对湿度", "%", [0, 100], {}),
        ("a01006", "pressure", "气压", "kPa", [80, 110], {}),
        ("a01007", "wind_speed", "风速", "m/s", [0, 60], {}),
        ("a01008", "wind_direction", "风向", "°", [0, 360], {}),
    ],
    "voc": [
        ("a24088", "vocs", "非甲烷总烃", "mg/m3", [0, 50], {"limit": 2.0}),
        ("a25002", "benzene", "苯", "mg/m3", [0, 10], {"limit": 0.1}),
        ("a25003", "toluene", "甲苯", "mg/m3", [0, 10], {"limit": 0.2}),
        ("a25005", "xylene", "二甲苯", "mg/m3", [0, 10], {"limit": 0.2}),
    ],
    # Stack limits: kilns and the incinerator at DB37/2376-2019 key-area limits, the power plant
    # at ultra-low emission limits.
    "kiln": [
        ("a21026", "so2", "二氧化硫", "mg/m3", [0, 500], {"limit": 50}),
        ("a21002", "nox", "氮氧化物", "mg/m3", [0, 1000], {"limit": 100}),
        ("a34013", "dust", "颗粒物", "mg/m3", [0, 200], {"limit": 10}),
        ("a19001", "flue_o2", "氧含量", "%", [0, 25], {}),
        ("a00000", "flow", "烟气流量", "m3/h", [0, 300000], {}),
        ("a01012", "temperature", "烟气温度", "°C", [0, 300], {}),
    ],
    "power": [
        ("a21026", "so2", "二氧化硫", "mg/m3", [0, 500], {"limit": 35}),
        ("a21002", "nox", "氮氧化物", "mg/m3", [0, 500], {"limit": 50}),
        ("a34013", "dust", "颗粒物", "mg/m3", [0, 100], {"limit": 5}),
        ("a19001", "flue_o2", "氧含量", "%", [0, 25], {}),
        ("a00000", "flow", "烟气流量", "m3/h", [0, 800000], {}),
        ("a01012", "temperature", "烟气温度", "°C", [0, 300], {}),
    ],
    "incinerator": [
        ("a21026", "so2", "二氧化硫", "mg/m3", [0, 500], {"limit": 50}),
        ("a21002", "nox", "氮氧化物", "mg/m3", [0, 1000], {"limit": 100}),
        ("a34013", "dust", "颗粒物", "mg/m3", [0, 200], {"limit": 10}),
        ("a21005", "co", "一氧化碳", "mg/m3", [0, 1000], {"limit": 80}),
        ("a21024", "hcl", "氯化氢", "mg/m3", [0, 200], {"limit": 50}),
        ("a19001", "flue_o2", "氧含量", "%", [0, 25], {}),
        ("a00000", "flow", "烟气流量", "m3/h", [0, 200000], {}),
        ("a01012", "temperature", "烟气温度", "°C", [0, 300], {}),
    ],
    # Wastewater: the park plant discharges to the river (GB 18918 一级A: COD 50, NH3-N 5);
    # enterprises discharge into the park sewer (纳管标准: COD 500, NH3-N 45).
    "direct": [
        ("w01018", "cod", "化学需氧量", "mg/L", [0, 500], {"limit": 50}),
        ("w21003", "nh3n", "氨氮", "mg/L", [0, 100], {"limit": 5}),
        ("w01001", "ph", "pH值", "", [0, 14], {"lo": 6, "hi": 9}),
        ("w00000", "flow", "废水流量", "m3/h", [0, 2000], {}),
    ],
    "indirect": [
        ("w01018", "cod", "化学需氧量", "mg/L", [0, 2000], {"limit": 500}),
        ("w21003", "nh3n", "氨氮", "mg/L", [0, 200], {"limit": 45}),
        ("w01001", "ph", "pH值", "", [0, 14], {"lo": 6, "hi": 9}),
        ("w00000", "flow", "废水流量", "m3/h", [0, 500], {}),
    ],
}
ST = {"air": "22", "voc": "27", "kiln": "31", "power": "31", "incinerator": "31",
      "direct": "32", "indirect": "32"}

# ---------------------------------------------------------------------------------------------
# Building the model.


class Builder:
    def __init__(self):
        self.rng = random.Random(SEED)
        self.enterprises, self.areas, self.installations = [], [], []
        self.devices, self.vehicles, self.geofences = [], [], []
        self.site = []            # GeoJSON features
        self.area_rings = {}      # area id -> local ring
        self.area_inst = {}       # area id -> installation id (when exactly one)
        self.plots = {}           # enterprise id -> local ring
        self.next_port = 15020
        self.mn_seq = 0
        self.inside_checks = []   # (what, local point)

    # --- helpers -------------------------------------------------------------------------------
    def person(self):
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    def phone(self):
        # 0533 is the area code; local numbers never start with 0, so these cannot be real.
        return "0533-0%06d" % self.rng.randrange(10 ** 6)

    def jitter_in(self, ring, margin=6.0):
        xs = [p[0] for p in ring]
        ys = [p[1] for p in ring]
        x = self.rng.uniform(min(xs) + margin, max(xs) - margin)
        y = self.rng.uniform(min(ys) + margin, max(ys) - margin)
        return (round(x, 1), round(y, 1))

    def check_inside(self, what, pts):
        for p in pts:
            self.inside_checks.append((what, p))

    def new_mn(self, st):
        self.mn_seq += 1
        tail = "%08X" % self.rng.getrandbits(32)
        mn = "370323" + st + "0D3A" + "%04X" % self.mn_seq + tail
        assert len(mn) == 24 and re.fullmatch(r"[0-9A-F]{24}", mn), mn
        return mn

    # --- enterprises ---------------------------------------------------------------------------
    def layout_areas(self, plot, front, areas):
        """Front strip (by the road): loading bay at the west end, office at the east end;
        the rest in a grid of cells behind it."""
        x0, y0, x1, y1 = plot
        W, D = x1 - x0, y1 - y0

        def to_xy(u, v):
            return (x0 + u, y1 - v) if front == "N" else (x0 + u, y0 + v)

        def cell(u0, v0, u1, v1):
            a, b = to_xy(u0, v0), to_xy(u1, v1)
            return rect(a[0], a[1], b[0], b[1])

        out = {}
        back = [a for a in areas if a[2] not in ("loading", "office")]
        for a in areas:
            if a[2] == "loading":
                out[a[0]] = cell(12, 8, 12 + min(150, 0.4 * W), 70)
            elif a[2] == "office":
                out[a[0]] = cell(W - 12 - min(90, 0.25 * W), 8, W - 12, 70)
        cols = 2 if W < 450 else 3
        rows = math.ceil(len(back) / cols)
        gap = 18
        cw = (W - 24 - (cols - 1) * gap) / cols
        ch = (D - 90 - 12 - (rows - 1) * gap) / rows
        for i, a in enumerate(back):
            c, r = i % cols, i // cols
            u0 = 12 + c * (cw + gap)
            v0 = 90 + r * (ch + gap)
            out[a[0]] = cell(round(u0, 1), round(v0, 1), round(u0 + cw, 1), round(v0 + ch, 1))
        return out

    def build_enterprises(self):
        ctrl_rows = []   # (enterprise, port, [detector dicts])
        for e in ENTERPRISES:
            eid = e["id"]
            col, row, half = e["block"]
            plot = block_rect(col, row, half)
            ring = rect(*plot)
            self.plots[eid] = ring
            self.check_inside(eid + " plot", ring)
            front = front_of(row)
            rings = self.layout_areas(plot, front, e["areas"])
            office = centre(rings["OF1"])
            road = front_road(row)
            number = int(abs(office[0] + 2000) / 10) + (1 if front == "N" else 2)
            number += number % 2 == (0 if front == "N" else 1)  # odd numbers north, even south
            ent = {
                "id": eid, "name": e["name"], "industry": e["industry"],
                "uscc": make_uscc(self.rng, e["new"]),
                "location": ll(*office),
                "address": "山东省淄博市示范化工园区%s%d号" % (road, number),
                "contacts": [
                    {"name": self.person(), "role": "主要负责人", "phone": self.phone()},
                    {"name": self.person(), "role": "安全管理负责人", "phone": self.phone()},
                    {"name": self.person(), "role": "环保专员", "phone": self.phone()},
                    {"name": "中控室", "role": "24小时值班", "phone": self.phone()},
                ],
            }
            self.enterprises.append(ent)
            self.site.append(feature(ring, kind="enterprise", id=eid, name=e["name"],
                                     enterprise=eid, industry=e["industry"]))
            for code, name, kind, _ in e["areas"]:
                aid = "%s-%s" % (eid, code)
                self.area_rings[aid] = rings[code]
                self.check_inside(aid, rings[code])
                self.areas.append({"id": aid, "name": name, "enterprise": eid, "kind": kind,
                                   "polygon": ring_ll(rings[code])})
            per_area = {}
            for code, area, name, kind, mh in e["inst"]:
                iid = "%s-%s" % (eid, code)
                inst = {"id": iid, "name": name, "enterprise": eid, "area": "%s-%s" % (eid, area),
                        "kind": kind}
                if mh:
                    r, subs = mh
                    inst["major_hazard"] = {"grade": grade_of(r), "r_value": r, "substances": subs}
                self.installations.append(inst)
                per_area.setdefault(inst["area"], []).append(iid)
            for aid, iids in per_area.items():
                if len(iids) == 1:
                    self.area_inst[aid] = iids[0]

            # Gas detectors: numbered through the enterprise in area order.
            dets = []
            for code, aname, kind, mix in e["areas"]:
                aid = "%s-%s" % (eid, code)
                for tok in mix.split():
                    g, n = tok.split(":")
                    q = GAS_ABBR[g]
                    for k in range(int(n)):
                        dets.append((aid, aname, q, k + 1))
            n = len(dets)
            split = [dets] if n <= 36 else [dets[: (n + 1) // 2], dets[(n + 1) // 2:]]
            seq = 0
            for part in split:
                port = self.next_port
                self.next_port += 1
                for i, (aid, aname, q, k) in enumerate(part):
                    seq += 1
                    did = "%s-GD-%03d" % (eid, seq)
                    gname, unit, sp, rng_, db = GAS[q]
                    loc = self.jitter_in(self.area_rings[aid])
                    dev = {
                        "id": did, "name": "%s%s探测器%02d" % (aname, gname, k),
                        "kind": "gas_detector", "enterprise": eid, "area": aid,
                        "location": ll(*loc), "protocol": "modbus",
                        "modbus": {"host": "127.0.0.1", "port": port, "unit": 1},
                        "points": [{
                            "id": "%s.%s" % (did, q), "name": gname + "浓度", "quantity": q,
                            "unit": unit, "series": 'gas_concentration{device="%s"}' % did,
                            "register": {"table": "input", "address": 2 * i, "type": "float32",
                                         "word_order": "big", "scale": 1, "offset": 0},
                            "setpoints": dict(sp, deadband=db), "range": list(rng_),
                        }],
                    }
                    if aid in self.area_inst:
                        dev["installation"] = self.area_inst[aid]
                    self.check_inside(did, [loc])
                    self.devices.append(dev)
                ctrl_rows.append((eid, port, len(part)))

            # Tanks: laid out in a grid inside their tank farm.
            tseq = 0
            by_area = {}
            for area, tk, cnt in e["tanks"]:
                by_area.setdefault(area, []).extend([tk] * cnt)
            for area, kinds in by_area.items():
                aid = "%s-%s" % (eid, area)
                x0, y0 = self.area_rings[aid][0]
                x1, y1 = self.area_rings[aid][2]
                ncol = math.ceil(math.sqrt(len(kinds)))
                nrow = math.ceil(len(kinds) / ncol)
                for i, tk in enumerate(kinds):
                    tseq += 1
                    did = "%s-TK-%03d" % (eid, tseq)
                    sub, shape, H, fhi, fhihi, trng, tsp, prng, psp = TANKS[tk]
                    loc = (round(x0 + (x1 - x0) * (i % ncol + 0.5) / ncol, 1),
                           round(y0 + (y1 - y0) * (i // ncol + 0.5) / nrow, 1))
                    self.check_inside(did, [loc])
                    tag = "V-%d%02d" % (int(area[-1]), tseq)
                    pts = [
                        {"id": did + ".level", "name": "液位", "quantity": "level", "unit": "m",
                         "series": 'tank_level_m{device="%s"}' % did,
                         "setpoints": {"hi": round(H * fhi, 2), "hihi": round(H * fhihi, 2),
                                       "lo": round(max(0.3, H * 0.1), 2)},
                         "range": [0, H]},
                        {"id": did + ".temperature", "name": "温度", "quantity": "temperature",
                         "unit": "°C", "series": 'tank_temperature_c{device="%s"}' % did,
                         "setpoints": dict(tsp), "range": list(trng)},
                        {"id": did + ".pressure", "name": "压力", "quantity": "pressure",
                         "unit": "kPa", "series": 'tank_pressure_kpa{device="%s"}' % did,
                         "setpoints": dict(psp), "range": list(prng)},
                    ]
                    self.devices.append({
                        "id": did, "name": "%s %s%s" % (tag, sub, shape),
                        "kind": "tank_sensor_set", "enterprise": eid, "area": aid,
                        "installation": self.area_inst[aid], "location": ll(*loc),
                        "protocol": "mqtt", "mqtt": {"topic": "park/%s/%s" % (eid, did)},
                        "points": pts,
                    })

            # Fire panel in the office / control room.
            did = "%s-FP-01" % eid
            loc = self.jitter_in(self.area_rings[eid + "-OF1"], 15)
            self.check_inside(did, [loc])
            self.devices.append({
                "id": did, "name": "火灾报警控制器",
                "kind": "fire_panel", "enterprise": eid, "area": eid + "-OF1",
                "location": ll(*loc), "protocol": "mqtt",
                "mqtt": {"topic": "park/%s/%s" % (eid, did)}, "points": []})

            # Kilns.
            for k, area in enumerate(e["kilns"], 1):
                did = "%s-KL-%02d" % (eid, k)
                aid = "%s-%s" % (eid, area)
                loc = self.jitter_in(self.area_rings[aid], 30)
                self.check_inside(did, [loc])
                self.devices.append({
                    "id": did, "name": "%d#熔窑温度监测" % k, "kind": "kiln", "enterprise": eid,
                    "area": aid, "installation": self.area_inst[aid], "location": ll(*loc),
                    "protocol": "mqtt", "mqtt": {"topic": "park/%s/%s" % (eid, did)},
                    "points": [{"id": did + ".temperature", "name": "熔窑碹顶温度",
                                "quantity": "temperature", "unit": "°C",
                                "series": 'kiln_temperature_c{device="%s"}' % did,
                                "setpoints": {"lo": 1450, "hi": 1600, "hihi": 1630},
                                "range": [0, 1800]}]})

            # Stack CEMS and wastewater outlets.
            for k, (area, prof) in enumerate(e["cems"], 1):
                did = "%s-CEMS-%02d" % (eid, k)
                aid = "%s-%s" % (eid, area)
                loc = self.jitter_in(self.area_rings[aid], 20)
                name = {"kiln": "熔窑烟气排放口在线监测", "power": "%d#锅炉烟气排放口在线监测" % k,
                        "incinerator": "焚烧炉烟气排放口在线监测"}[prof]
                self.add_hj212(did, name, prof, loc, eid, aid)
            if e["ww"]:
                name, prof = e["ww"]
                did = "%s-WW-01" % eid
                x0, y0, x1, y1 = plot
                # the outlet sits at the back corner of the plot, away from the road
                loc = (x1 - 15, y0 + 15) if front == "N" else (x1 - 15, y1 - 15)
                self.add_hj212(did, name + "在线监测", prof, loc, eid, None)
        return ctrl_rows

    def add_hj212(self, did, name, prof, loc, eid, aid):
        st = ST[prof]
        mn = self.new_mn(st)
        pts = []
        for code, q, pname, unit, rng_, sp in HJ212_PROFILES[prof]:
            p = {"id": "%s.%s" % (did, code), "name": pname, "quantity": q, "unit": unit,
                 "series": 'hj212_rtd{mn="%s",code="%s",cn="2011"}' % (mn, code),
                 "range": list(rng_)}
            if sp:
                p["setpoints"] = dict(sp)
            pts.append(p)
        dev = {"id": did, "name": name, "kind": "env_station", "location": ll(*loc),
               "protocol": "hj212",
               "hj212": {"mn": mn, "password": "123456", "st": st, "utc_offset_minutes": 480},
               "points": pts}
        if eid:
            dev["enterprise"] = eid
        if aid:
            dev["area"] = aid
        self.check_inside(did, [loc])
        self.devices.append(dev)

    # --- park-owned --------------------------------------------------------------------------
    def build_park(self):
        park_areas = [("P-PARKING", "危化品车辆专用停车场", "public", PARKING),
                      ("P-RESCUE", "应急救援中心及消防站", "public", RESCUE),
                      ("P-CENTER", "园区管委会及智慧监管中心", "office", CENTER)]
        for aid, name, kind, ring in park_areas:
            self.area_rings[aid] = ring
            self.check_inside(aid, ring)
            self.areas.append({"id": aid, "name": name, "kind": kind, "polygon": ring_ll(ring)})

        # Air quality stations and fence-line VOC monitors.
        self.add_hj212("P-AQ-01", "园区1号空气质量自动监测站", "air", (-200, -900), None,
                       "P-CENTER")
        self.add_hj212("P-AQ-02", "园区2号空气质量自动监测站（东北）", "air", (1700, 1000),
                       None, None)
        self.add_hj212("P-VOC-01", "东南厂界VOCs自动监测站", "voc", (1900, -1420), None, None)
        self.add_hj212("P-VOC-02", "西北厂界VOCs自动监测站", "voc", (-1860, 1250), None, None)
        self.add_hj212("P-VOC-03", "东侧厂界VOCs自动监测站", "voc", (1975, 450), None, None)

        # Gates, on the boundary.
        gates = [("GATE-01", "1号门（南门，危化品车辆主通道）", GATE_S, "NS"),
                 ("GATE-02", "2号门（东门）", GATE_E, "EW"),
                 ("GATE-03", "3号门（北门，人员通道）", GATE_N, "NS"),
                 ("GATE-04", "4号门（西门）", GATE_W, "EW")]
        for gid, name, (x, y), axis in gates:
            self.devices.append({"id": gid, "name": name + "卡口", "kind": "gate",
                                 "location": ll(x, y), "protocol": "mqtt",
                                 "mqtt": {"topic": "park/PARK/%s" % gid}, "points": []})
            ring = rect(x - 20, y - 30, x + 20, y + 30) if axis == "NS" else \
                rect(x - 30, y - 20, x + 30, y + 20)
            self.geofences.append({"id": "GF-" + gid, "name": name, "kind": "gate",
                                   "polygon": ring_ll(ring), "speed_limit_kmh": 10})
            self.site.append(feature((x, y), kind="gate", id=gid, name=name))

        cams = [("CAM-01", "南门卡口摄像机", (GATE_S[0] + 15, GATE_S[1] + 40), None, None),
                ("CAM-02", "东门卡口摄像机", (GATE_E[0] - 40, GATE_E[1] + 15), None, None),
                ("CAM-03", "北门卡口摄像机", (GATE_N[0] + 15, GATE_N[1] - 40), None, None),
                ("CAM-04", "西门卡口摄像机", (GATE_W[0] + 40, GATE_W[1] - 15), None, None),
                ("CAM-05", "危化品停车场全景摄像机", centre(PARKING), None, "P-PARKING"),
                ("CAM-06", "液氯储罐区摄像机", centre(self.area_rings["E04-TF1"]), "E04",
                 "E04-TF1"),
                ("CAM-07", "甲类罐区摄像机", centre(self.area_rings["E10-TF1"]), "E10", "E10-TF1"),
                ("CAM-08", "液化烃球罐区摄像机", centre(self.area_rings["E10-TF3"]), "E10",
                 "E10-TF3")]
        for cid, name, loc, eid, aid in cams:
            dev = {"id": cid, "name": name, "kind": "camera", "location": ll(*loc),
                   "protocol": "none", "points": []}
            if eid:
                dev["enterprise"] = eid
            if aid:
                dev["area"] = aid
            self.check_inside(cid, [loc])
            self.devices.append(dev)

        # Geofences.
        self.geofences.append({"id": "GF-BOUNDARY", "name": "示范化工园区边界",
                               "kind": "park_boundary", "polygon": ring_ll(BOUNDARY),
                               "speed_limit_kmh": 40})
        self.geofences.append({"id": "GF-PARKING", "name": "危化品车辆专用停车场",
                               "kind": "hazmat_parking", "polygon": ring_ll(PARKING),
                               "speed_limit_kmh": 10})
        cl = self.area_rings["E04-TF1"]
        (cx0, cy0), (cx1, cy1) = cl[0], cl[2]
        restricted = [
            ("GF-RZ-01", "液氯储罐区周边禁入区", rect(cx0 - 10, cy0 - 10, cx1 + 10, cy1 + 10)),
            ("GF-RZ-02", "西侧学校防护带（危化品车辆禁入）", rect(-1975, -1425, -1795, -200)),
            ("GF-RZ-03", "滨河路公共道路（危化品车辆禁行）", rect(-1975, 1375, 1820, 1425)),
        ]
        for gid, name, ring in restricted:
            self.check_inside(gid, ring)
            self.geofences.append({"id": gid, "name": name, "kind": "restricted",
                                   "polygon": ring_ll(ring)})
        routes = [
            ("GF-RT-01", "危化品运输路线1：南门—停车场—纬二路西段",
             [GATE_S, (-400, -1290), (-400, -700), (-1750, -700)], 30),
            ("GF-RT-02", "危化品运输路线2：南门—经二路—化工大道—东门",
             [GATE_S, (-400, 0), GATE_E], 35),
            ("GF-RT-03", "危化品运输路线3：西门—化工大道—经二路—纬一路",
             [GATE_W, (-400, 0), (-400, 700), (1900, 700)], 35),
            ("GF-RT-04", "危化品运输路线4：南门—纬二路东段",
             [GATE_S, (-400, -700), (1950, -700)], 30),
        ]
        for gid, name, line, w in routes:
            self.check_inside(gid, line[1:-1])
            self.geofences.append({"id": gid, "name": name, "kind": "route",
                                   "polyline": [ll(*p) for p in line], "width_m": w,
                                   "speed_limit_kmh": 30})
        self.routes = routes

    def build_vehicles(self):
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
        plates = set()
        n = 0
        for eid, cargo, cnt in VEHICLE_PLAN:
            un, cls = CARGO[cargo]
            for _ in range(cnt):
                n += 1
                while True:
                    if self.rng.random() < 0.8:
                        p = self.rng.choice(letters) + "%04d" % self.rng.randrange(10000)
                    else:
                        p = ("%03d" % self.rng.randrange(1000) + self.rng.choice(letters)
                             + self.rng.choice("0123456789"))
                    if p not in plates:
                        plates.add(p)
                        break
                vid = "V%03d" % n
                phone = "0138000%05d" % n
                plate = "鲁C" + p
                self.vehicles.append({
                    "id": vid, "plate": plate, "carrier": self.rng.choice(CARRIERS),
                    "hazmat_class": cls, "un_number": un, "cargo": cargo,
                    "terminal_phone": phone, "enterprise": eid})
                did = vid + "-TERM"
                self.devices.append({
                    "id": did, "name": "%s车载定位终端" % plate, "kind": "vehicle_terminal",
                    "protocol": "jt808", "jt808": {"phone": phone},
                    "points": [{"id": did + ".speed", "name": "车速", "quantity": "speed",
                                "unit": "km/h",
                                # the JT/T 808 listener labels series with the phone
                                # without its BCD zero padding (docs/protocols/jt808.md)
                                "series": 'vehicle_speed_kmh{phone="%s"}' % phone.lstrip("0"),
                                "range": [0, 150]}]})

    # --- gathering places (人员密集场所 / GB 36894 protection targets) --------------------------
    def build_gathering(self):
        """Offices, control rooms and canteens of the enterprises, the park's office centre,
        gates and the hazmat parking lot, and the villages, school and clinic around the park.
        A random generator of its own, so adding them left every other object as it was."""
        rng = random.Random(SEED + 19)
        phone = lambda: "0533-0%06d" % rng.randrange(10 ** 6)
        self.gathering = []
        duty = {e["id"]: next((c["phone"] for c in e["contacts"] if "值班" in c["role"]), None)
                for e in self.enterprises}

        def add(gid, name, kind, cls, xy, people, tel):
            self.gathering.append({"id": gid, "name": name, "kind": kind, "class": cls,
                                   "location": ll(*xy), "people": people, "phone": tel})

        names = {e["id"]: e["name"] for e in self.enterprises}
        for a in sorted(self.areas, key=lambda a: a["id"]):
            eid = a.get("enterprise")
            if a["kind"] != "office" or not eid:
                continue
            cx, cy = centre(self.area_rings[a["id"]])
            if "中控室" in a["name"] or "集控室" in a["name"]:
                add("GP-%s-CR" % eid, "%s中控室" % names[eid], "control_room", 3, (cx, cy),
                    rng.randrange(6, 16), duty[eid] or phone())
            add("GP-%s-OF" % eid, "%s%s" % (names[eid], a["name"].replace("及中控室", "")
                                                          .replace("及集控室", "")),
                "office", 3, (cx - 12, cy), rng.randrange(30, 160), phone())
            if int(eid[1:]) % 3 == 0:
                add("GP-%s-CT" % eid, "%s职工食堂" % names[eid], "canteen", 3, (cx + 15, cy - 10),
                    rng.randrange(80, 300), phone())
        cx, cy = centre(CENTER)
        add("GP-P-CENTER", "园区管委会及智慧监管中心", "office", 2, (cx, cy), 220, phone())
        add("GP-P-CANTEEN", "园区公共食堂", "canteen", 3, (cx + 60, cy - 120), 350, phone())
        for gid, name, xy in (("GP-GATE-01", "1号门（南门）", GATE_S), ("GP-GATE-02", "2号门（东门）", GATE_E),
                              ("GP-GATE-03", "3号门（北门）", GATE_N), ("GP-GATE-04", "4号门（西门）", GATE_W)):
            add(gid, name + "门岗", "gate", 4, xy, rng.randrange(3, 9), phone())
        add("GP-P-PARKING", "危化品车辆专用停车场", "parking", 4, centre(PARKING), 40, phone())
        add("GP-SCHOOL", "示范镇中学（园区外）", "school", 1, centre(SCHOOL), 1500, phone())
        add("GP-CLINIC", "示范镇卫生院（园区外）", "hospital", 1, (-2500, -600), 120, phone())
        add("GP-VILLAGE-E", "东洼村（园区外）", "village", 3, (2500, 300), 1200, phone())
        add("GP-VILLAGE-N", "北岸村（清水河北）", "village", 3, (300, 2100), 800, phone())
        for g in self.gathering:
            if g["kind"] not in ("school", "hospital", "village", "gate"):
                self.check_inside(g["id"], [xy_of(g["location"])])

    # --- site plan ---------------------------------------------------------------------------
    def build_site(self):
        s = self.site
        s.append(feature(BOUNDARY, kind="park_boundary", id="BOUNDARY", name="示范化工园区边界"))
        roads = [
            ("R-HG", "化工大道", [GATE_W, GATE_E], "main", 40),
            ("R-W1", "纬一路", [(-1790, 700), (1985, 700)], "secondary", 30),
            ("R-W2", "纬二路", [(-1790, -700), (2000, -700)], "secondary", 30),
            ("R-J1", "经一路", [(-1150, -1440), (-1150, 1400)], "secondary", 24),
            ("R-J2", "经二路", [GATE_S, (-400, 1400)], "main", 40),
            ("R-J3", "经三路", [(350, -1440), GATE_N], "secondary", 30),
            ("R-J4", "经四路", [(1100, -1440), (1100, 1400)], "secondary", 24),
            ("R-BH", "滨河路（公共道路）", [(-1975, 1400), (1840, 1400)], "public", 20),
        ]
        for rid, name, line, cls, w in roads:
            s.append(feature(line, kind="road", id=rid, name=name, road_class=cls, width_m=w,
                             line=True))
        # Routes, restricted zones and gate fences are geofences in park.json; the map draws
        # them from the model.
        s.append(feature(PARKING, kind="hazmat_parking", id="P-PARKING",
                         name="危化品车辆专用停车场"))
        s.append(feature(RESCUE, kind="public", id="P-RESCUE", name="应急救援中心及消防站"))
        s.append(feature(CENTER, kind="public", id="P-CENTER", name="园区管委会及智慧监管中心"))
        s.append(feature(GREEN_WEST, kind="green", id="G-WEST", name="西侧防护绿带"))
        s.append(feature(GREEN_NE, kind="green", id="G-NE", name="东北生态绿地"))
        for i, (name, ring) in enumerate(RESERVED, 1):
            s.append(feature(ring, kind="reserved", id="RES-%02d" % i, name=name))
        s.append(feature(RIVER, kind="river", id="RIVER", name="清水河", line=True))
        s.append(feature(SCHOOL, kind="sensitive", id="SCHOOL", name="示范镇中学（园区外）"))
        for ring in (GREEN_WEST, GREEN_NE, PARKING, RESCUE, CENTER) + tuple(r for _, r in RESERVED):
            self.check_inside("site plan", ring)


def feature(geom, kind, id, name, line=False, **props):
    if isinstance(geom, tuple) and len(geom) == 2 and not isinstance(geom[0], (list, tuple)):
        g = {"type": "Point", "coordinates": ll(*geom)}
    elif line:
        g = {"type": "LineString", "coordinates": [ll(*p) for p in geom]}
    else:
        assert signed_area(geom) > 0, (id, "ring must be counter-clockwise")
        g = {"type": "Polygon", "coordinates": [closed(ring_ll(geom))]}
    p = {"kind": kind, "id": id, "name": name}
    p.update(props)
    return {"type": "Feature", "id": id, "properties": p, "geometry": g}


# ---------------------------------------------------------------------------------------------
# Output: stable key order (see key_rank), 1-space indent, short scalar arrays (coordinates, ranges) on one line.


KEY_FIRST = ["version", "park", "enterprises", "areas", "installations", "devices", "vehicles",
             "geofences", "gathering_places", "type", "id", "name"]


def key_rank(k):
    """Documented top-level order, then type/id/name, then the rest sorted."""
    return (KEY_FIRST.index(k), "") if k in KEY_FIRST else (len(KEY_FIRST), k)


def dumps(o, level=0):
    pad = " " * level
    if isinstance(o, dict):
        if not o:
            return "{}"
        items = ["%s %s: %s" % (pad, json.dumps(k, ensure_ascii=False), dumps(o[k], level + 1))
                 for k in sorted(o, key=key_rank)]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(o, list):
        if not o:
            return "[]"
        if all(not isinstance(v, (dict, list)) for v in o):
            return "[" + ", ".join(dumps(v) for v in o) + "]"
        return "[\n" + ",\n".join(pad + " " + dumps(v, level + 1) for v in o) + "\n" + pad + "]"
    if isinstance(o, float) and o == int(o) and abs(o) < 1e15:
        return str(int(o))
    return json.dumps(o, ensure_ascii=False)


def write(path, text):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------------
# CSV ledger: extra devices of an enterprise that is already in park.json (E05 二期扩建).


def csv_ledger(b, park):
    eid = "E05"
    port = b.next_port      # 二期 adds the enterprise's second gas detector controller
    area_rings = b.area_rings
    dev_rows, pt_rows = [], []
    gas_plan = [("PU3", "增塑剂车间", "combustible"), ("PU3", "增塑剂车间", "combustible"),
                ("PU3", "增塑剂车间", "combustible"), ("PU2", "有机锡稳定剂车间", "h2s"),
                ("PU2", "有机锡稳定剂车间", "combustible"), ("TF1", "原料罐区", "combustible"),
                ("TF1", "原料罐区", "combustible"), ("LD1", "装卸区", "combustible")]
    for i, (area, aname, q) in enumerate(gas_plan):
        did = "%s-GD-%03d" % (eid, 101 + i)
        aid = "%s-%s" % (eid, area)
        x, y = b.jitter_in(area_rings[aid])
        lon, lat = ll(x, y)
        gname, unit, sp, rng_, db = GAS[q]
        dev_rows.append({"id": did, "name": "二期%s%s探测器" % (aname, gname),
                         "kind": "gas_detector", "enterprise": eid, "area": aid,
                         "installation": b.area_inst.get(aid, ""), "lon": lon, "lat": lat,
                         "protocol": "modbus", "address": "127.0.0.1:%d/1" % port})
        pt_rows.append({"id": "%s.%s" % (did, q), "device": did, "name": gname + "浓度",
                        "quantity": q, "unit": unit,
                        "series": 'gas_concentration{device="%s"}' % did,
                        "alarm1": sp.get("alarm1", ""), "alarm2": sp.get("alarm2", ""),
                        "hi": sp.get("hi", ""), "lo": sp.get("lo", ""), "deadband": db,
                        "range_min": rng_[0], "range_max": rng_[1],
                        "register": "input:%d:float32:big:1:0" % (2 * i)})
    aid = eid + "-TF1"
    (x0, y0), (x1, y1) = area_rings[aid][0], area_rings[aid][2]
    ntank = sum(c for a, _, c in ENTERPRISES[[e["id"] for e in ENTERPRISES].index(eid)]["tanks"])
    for k, tk in enumerate(["甲醇", "DOTP"]):
        did = "%s-TK-%03d" % (eid, 101 + k)
        sub, shape, H, fhi, fhihi, trng, tsp, prng, psp = TANKS[tk]
        lon, lat = ll(x0 + (x1 - x0) * (0.25 + 0.5 * k), y0 + (y1 - y0) * 0.5)
        dev_rows.append({"id": did, "name": "二期 V-1%02d %s%s" % (ntank + 1 + k, sub, shape),
                         "kind": "tank_sensor_set", "enterprise": eid, "area": aid,
                         "installation": b.area_inst[aid], "lon": lon, "lat": lat,
                         "protocol": "mqtt", "address": "park/%s/%s" % (eid, did)})
        pt_rows.append({"id": did + ".level", "device": did, "name": "液位", "quantity": "level",
                        "unit": "m", "series": 'tank_level_m{device="%s"}' % did,
                        "hi": round(H * fhi, 2), "hihi": round(H * fhihi, 2),
                        "lo": round(max(0.3, H * 0.1), 2), "range_min": 0, "range_max": H})
        pt_rows.append({"id": did + ".temperature", "device": did, "name": "温度",
                        "quantity": "temperature", "unit": "°C",
                        "series": 'tank_temperature_c{device="%s"}' % did,
                        "hi": tsp["hi"], "hihi": tsp["hihi"],
                        "range_min": trng[0], "range_max": trng[1]})
        pt_rows.append({"id": did + ".pressure", "device": did, "name": "压力",
                        "quantity": "pressure", "unit": "kPa",
                        "series": 'tank_pressure_kpa{device="%s"}' % did,
                        "hi": psp["hi"], "hihi": psp["hihi"], "lo": psp["lo"],
                        "range_min": prng[0], "range_max": prng[1]})
    dcols = "id,name,kind,enterprise,area,installation,lon,lat,protocol,address".split(",")
    pcols = ("id,device,name,quantity,unit,series,alarm1,alarm2,hi,hihi,lo,lolo,deadband,limit,"
             "range_min,range_max,register").split(",")

    def render(cols, rows):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\r\n", restval="")
        w.writeheader()
        for r in rows:
            w.writerow({k: fmt(v) for k, v in r.items()})
        return buf.getvalue()

    return render(dcols, dev_rows), render(pcols, pt_rows), dev_rows, pt_rows


def fmt(v):
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    return str(v)


# ---------------------------------------------------------------------------------------------
# Invariants.

ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
SERIES_RE = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*\{[a-z_]+="[^"]+"(,[a-z_]+="[^"]+")*\}')
ALLOWED = {
    "top": {"version", "park", "enterprises", "areas", "installations", "devices", "vehicles",
            "geofences", "gathering_places"},
    "park": {"id", "name", "name_en", "location", "utc_offset_minutes", "site_plan"},
    "enterprise": {"id", "name", "uscc", "industry", "location", "address", "contacts"},
    "contact": {"name", "role", "phone"},
    "area": {"id", "name", "enterprise", "kind", "polygon"},
    "installation": {"id", "name", "enterprise", "area", "kind", "major_hazard"},
    "major_hazard": {"grade", "r_value", "substances"},
    "device": {"id", "name", "kind", "enterprise", "area", "installation", "location", "protocol",
               "hj212", "jt808", "modbus", "mqtt", "points"},
    "hj212": {"mn", "password", "st", "utc_offset_minutes"},
    "jt808": {"phone"},
    "modbus": {"host", "port", "unit", "poll_interval"},
    "mqtt": {"topic"},
    "point": {"id", "name", "quantity", "unit", "series", "register", "setpoints", "range"},
    "register": {"table", "address", "type", "word_order", "scale", "offset"},
    "setpoints": {"alarm1", "alarm2", "hi", "hihi", "lo", "lolo", "deadband", "limit"},
    "vehicle": {"id", "plate", "carrier", "hazmat_class", "un_number", "cargo", "terminal_phone",
                "enterprise"},
    "geofence": {"id", "name", "kind", "polygon", "holes", "polyline", "width_m",
                 "speed_limit_kmh"},
    "gathering": {"id", "name", "kind", "class", "location", "people", "phone"},
}
GP_KINDS = {"office", "canteen", "control_room", "gate", "parking", "village", "school",
            "hospital", "other"}
AREA_KINDS = {"production", "storage", "tank_farm", "loading", "warehouse", "utility", "office",
              "public"}
INST_KINDS = {"tank_farm", "reactor", "warehouse", "kiln", "furnace", "pipeline", "other"}
DEV_KINDS = {"gas_detector", "tank_sensor_set", "env_station", "fire_panel", "gate",
             "vehicle_terminal", "kiln", "camera"}
PROTOCOLS = {"hj212", "jt808", "modbus", "mqtt", "none"}
GF_KINDS = {"park_boundary", "hazmat_parking", "restricted", "route", "gate"}


def keys_ok(obj, kind, where):
    extra = set(obj) - ALLOWED[kind]
    assert not extra, "%s: unknown keys %s" % (where, sorted(extra))


def verify(b, park, dev_rows, pt_rows):
    keys_ok(park, "top", "$")
    keys_ok(park["park"], "park", "$.park")
    ids = {}

    def new_id(i, where):
        assert isinstance(i, str) and ID_RE.fullmatch(i), "%s: bad id %r" % (where, i)
        assert i not in ids, "%s: duplicate id %s (also %s)" % (where, i, ids[i])
        ids[i] = where

    def name_ok(n, where):
        assert isinstance(n, str) and 0 < len(n.encode()) <= 200, "%s: bad name" % where

    ents = {e["id"] for e in park["enterprises"]}
    areas = {a["id"]: a for a in park["areas"]}
    insts = {i["id"]: i for i in park["installations"]}
    for k, e in enumerate(park["enterprises"]):
        w = "$.enterprises[%d]" % k
        keys_ok(e, "enterprise", w)
        new_id(e["id"], w)
        name_ok(e["name"], w)
        assert uscc_valid(e["uscc"]), w + ": uscc"
        for c in e["contacts"]:
            keys_ok(c, "contact", w)
    usccs = [e["uscc"] for e in park["enterprises"]]
    assert len(set(usccs)) == len(usccs), "duplicate USCC"
    for k, a in enumerate(park["areas"]):
        w = "$.areas[%d]" % k
        keys_ok(a, "area", w)
        new_id(a["id"], w)
        name_ok(a["name"], w)
        assert a.get("enterprise") is None or a["enterprise"] in ents, w
        assert a["kind"] in AREA_KINDS, w
        assert len(a["polygon"]) >= 3, w
    for k, i in enumerate(park["installations"]):
        w = "$.installations[%d]" % k
        keys_ok(i, "installation", w)
        new_id(i["id"], w)
        name_ok(i["name"], w)
        assert i["enterprise"] in ents and i["kind"] in INST_KINDS, w
        assert areas[i["area"]].get("enterprise") == i["enterprise"], w
        if "major_hazard" in i:
            mh = i["major_hazard"]
            keys_ok(mh, "major_hazard", w)
            assert mh["grade"] in (1, 2, 3, 4) and grade_of(mh["r_value"]) == mh["grade"], w
    mns, phones, ports, series, point_ids = set(), set(), {}, set(), set()
    count = {}
    for k, d in enumerate(park["devices"]):
        w = "$.devices[%d]" % k
        keys_ok(d, "device", w)
        new_id(d["id"], w)
        name_ok(d["name"], w)
        assert d["kind"] in DEV_KINDS and d["protocol"] in PROTOCOLS, w
        count[d["kind"]] = count.get(d["kind"], 0) + 1
        if "enterprise" in d:
            assert d["enterprise"] in ents, w
        if "area" in d:
            assert areas[d["area"]].get("enterprise") == d.get("enterprise"), w + ": area owner"
        if "installation" in d:
            ins = insts[d["installation"]]
            assert ins["enterprise"] == d.get("enterprise") and ins["area"] == d["area"], w
        proto = d["protocol"]
        for p in PROTOCOLS - {"none"}:
            assert (p in d) == (p == proto), w + ": protocol object " + p
        if proto != "none":
            keys_ok(d[proto], proto, w + "." + proto)
        if proto == "hj212":
            h = d["hj212"]
            assert re.fullmatch(r"[0-9A-F]{24}", h["mn"]) and h["mn"] not in mns, w
            mns.add(h["mn"])
        if proto == "jt808":
            ph = d["jt808"]["phone"]
            assert re.fullmatch(r"\d{1,20}", ph) and ph not in phones, w
            phones.add(ph)
        if proto == "modbus":
            m = d["modbus"]
            assert 15020 <= m["port"] <= 65535, w
            ports.setdefault(m["port"], []).append(d)
        if proto == "mqtt":
            assert d["mqtt"]["topic"] == "park/%s/%s" % (d.get("enterprise", "PARK"), d["id"]), w
        for j, p in enumerate(d["points"]):
            pw = "%s.points[%d]" % (w, j)
            keys_ok(p, "point", pw)
            new_id(p["id"], pw)
            name_ok(p["name"], pw)
            assert SERIES_RE.fullmatch(p["series"]), pw + ": series " + p["series"]
            assert p["series"] not in series, pw + ": duplicate series"
            series.add(p["series"])
            if "setpoints" in p:
                keys_ok(p["setpoints"], "setpoints", pw)
                assert all(isinstance(v, (int, float)) for v in p["setpoints"].values()), pw
                sp = p["setpoints"]
                if "hi" in sp and "hihi" in sp:
                    assert sp["hi"] < sp["hihi"], pw
                if "alarm1" in sp:
                    assert sp["alarm1"] < sp["alarm2"], pw
            if "register" in p:
                keys_ok(p["register"], "register", pw)
                assert proto == "modbus", pw
            if "range" in p:
                assert p["range"][0] < p["range"][1], pw
            if proto == "hj212":
                assert 'mn="%s"' % d["hj212"]["mn"] in p["series"], pw
            elif p["series"].split("{")[0] not in ("vehicle_speed_kmh",):
                assert '{device="%s"}' % d["id"] in p["series"], pw
        if d["kind"] == "gas_detector":
            assert len(d["points"]) == 1 and "register" in d["points"][0], w
        if d["kind"] == "tank_sensor_set":
            assert len(d["points"]) == 3 and insts[d["installation"]]["kind"] == "tank_farm", w
            assert "major_hazard" in insts[d["installation"]] or d["enterprise"] in ("E04", "E10",
                                                                                     "E14"), w
    # Modbus: one enterprise per controller, consecutive float registers from 0.
    for port, devs in ports.items():
        assert len({d["enterprise"] for d in devs}) == 1, port
        addrs = sorted(d["points"][0]["register"]["address"] for d in devs)
        assert addrs == list(range(0, 2 * len(devs), 2)), port
    per_ent = {}
    for port, devs in ports.items():
        per_ent.setdefault(devs[0]["enterprise"], []).append(port)
    assert all(1 <= len(v) <= 2 for v in per_ent.values()) and set(per_ent) == ents
    assert sorted(ports) == list(range(15020, 15020 + len(ports))), "ports from 15020 upward"
    vphones = set()
    plates = set()
    for k, v in enumerate(park["vehicles"]):
        w = "$.vehicles[%d]" % k
        keys_ok(v, "vehicle", w)
        new_id(v["id"], w)
        assert re.fullmatch(r"鲁C[0-9A-HJ-NP-Z]{5}", v["plate"]) and v["plate"] not in plates, w
        plates.add(v["plate"])
        assert re.fullmatch(r"\d{12}", v["terminal_phone"]) and v["terminal_phone"] in phones, w
        assert v["terminal_phone"] not in vphones, w
        vphones.add(v["terminal_phone"])
        assert v["enterprise"] in ents and CARGO[v["cargo"]] == (v["un_number"],
                                                                 v["hazmat_class"]), w
    assert vphones == phones, "one terminal device per vehicle"
    gk = {}
    for k, g in enumerate(park["geofences"]):
        w = "$.geofences[%d]" % k
        keys_ok(g, "geofence", w)
        new_id(g["id"], w)
        name_ok(g["name"], w)
        assert g["kind"] in GF_KINDS, w
        gk[g["kind"]] = gk.get(g["kind"], 0) + 1
        if g["kind"] == "route":
            assert "polygon" not in g and len(g["polyline"]) >= 2 and g["width_m"] > 0, w
        else:
            assert "polyline" not in g and "width_m" not in g and len(g["polygon"]) >= 3, w
    assert gk == {"park_boundary": 1, "hazmat_parking": 1, "restricted": 3, "route": 4,
                  "gate": 4}, gk
    gpk = {}
    for k, g in enumerate(park["gathering_places"]):
        w = "$.gathering_places[%d]" % k
        keys_ok(g, "gathering", w)
        new_id(g["id"], w)
        name_ok(g["name"], w)
        assert g["kind"] in GP_KINDS and g["class"] in (1, 2, 3, 4), w
        assert isinstance(g["people"], int) and g["people"] >= 0, w
        gpk[g["kind"]] = gpk.get(g["kind"], 0) + 1
    for kind in ("office", "canteen", "control_room", "gate", "parking", "village", "school"):
        assert gpk.get(kind, 0) >= 1, "gathering places: no %s" % kind
    assert 10 <= len(BOUNDARY) <= 20 and signed_area(BOUNDARY) > 0
    # Geometry: everything but gates and the gate ends of routes lies strictly inside.
    for what, p in b.inside_checks:
        assert point_in_ring(p, BOUNDARY), "%s at %s is outside the park boundary" % (what, p)
    for eid, ring in b.plots.items():      # plots do not overlap each other
        for eid2, ring2 in b.plots.items():
            if eid < eid2:
                (ax0, ay0), (ax1, ay1) = ring[0], ring[2]
                (bx0, by0), (bx1, by1) = ring2[0], ring2[2]
                assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, (eid, eid2)
    for aid, ring in b.area_rings.items():  # areas inside their plot
        eid = aid.split("-")[0]
        if eid in b.plots:
            pl = b.plots[eid]
            assert all(pl[0][0] <= x <= pl[2][0] and pl[0][1] <= y <= pl[2][1]
                       for x, y in ring), aid
    # Counts.
    assert len(park["enterprises"]) >= 20
    assert count["gas_detector"] >= 600, count
    assert count["tank_sensor_set"] >= 60, count
    assert count["env_station"] >= 6, count
    assert count["fire_panel"] == len(ents)
    assert 3 <= count["gate"] <= 4 and count["kiln"] >= 1 and count["camera"] >= 1
    assert len(park["vehicles"]) >= 50 and count["vehicle_terminal"] == len(park["vehicles"])
    sts = {d["hj212"]["st"] for d in park["devices"] if d["protocol"] == "hj212"}
    assert sts == {"22", "27", "31", "32"}, sts
    # CSV ledger: new ids, references into park.json, series unique.
    assert 10 <= len(dev_rows) <= 20 and 10 <= len(pt_rows) <= 20
    csv_dev = set()
    for r in dev_rows:
        assert ID_RE.fullmatch(r["id"]) and r["id"] not in ids, r["id"]
        csv_dev.add(r["id"])
        assert r["enterprise"] in ents and r["area"] in areas
        assert areas[r["area"]]["enterprise"] == r["enterprise"]
        assert not r["installation"] or insts[r["installation"]]["area"] == r["area"]
        if r["protocol"] == "modbus":
            port = int(r["address"].split(":")[1].split("/")[0])
            assert port not in ports and port == max(ports) + 1, port
            # after the CSV import the enterprise still has at most two controllers
            assert len(per_ent[r["enterprise"]]) == 1, r["enterprise"]
    regs = sorted(int(r["register"].split(":")[1]) for r in pt_rows if r.get("register"))
    assert regs == list(range(0, 2 * len(regs), 2)), regs
    for r in pt_rows:
        assert ID_RE.fullmatch(r["id"]) and r["id"] not in ids and r["device"] in csv_dev
        assert SERIES_RE.fullmatch(r["series"]) and r["series"] not in series
        series.add(r["series"])
    return count


def main():
    b = Builder()
    b.build_enterprises()
    b.build_park()
    b.build_vehicles()
    b.build_site()
    b.build_gathering()
    by_id = lambda xs: sorted(xs, key=lambda o: o["id"])
    park = {
        "version": 1,
        "park": {"id": "DEMO", "name": "示范化工园区", "name_en": "Demo Chemical Industrial Park",
                 "location": [LON0, LAT0], "utc_offset_minutes": 480,
                 "site_plan": "site-plan.geojson"},
        "enterprises": by_id(b.enterprises),
        "areas": by_id(b.areas),
        "installations": by_id(b.installations),
        "devices": by_id(b.devices),
        "vehicles": by_id(b.vehicles),
        "geofences": by_id(b.geofences),
        "gathering_places": by_id(b.gathering),
    }
    dev_csv, pt_csv, dev_rows, pt_rows = csv_ledger(b, park)
    count = verify(b, park, dev_rows, pt_rows)
    kind_order = ["park_boundary", "green", "reserved", "river", "sensitive", "road",
                  "enterprise", "public", "hazmat_parking", "gate"]
    site = {"type": "FeatureCollection",
            "name": "示范化工园区一张图",
            "features": sorted(b.site, key=lambda f: (kind_order.index(f["properties"]["kind"]),
                                                      f["id"]))}
    for f in site["features"]:
        assert "kind" in f["properties"] and "name" in f["properties"]
        if f["properties"]["kind"] == "enterprise":
            assert f["properties"]["enterprise"] in {e["id"] for e in park["enterprises"]}
    plots = {f["properties"]["enterprise"] for f in site["features"]
             if f["properties"]["kind"] == "enterprise"}
    assert plots == {e["id"] for e in park["enterprises"]}, "one plot per enterprise"

    os.makedirs(OUT, exist_ok=True)
    pj = dumps(park) + "\n"
    sj = dumps(site) + "\n"
    assert json.loads(pj) == park and json.loads(sj)["type"] == "FeatureCollection"
    assert len(pj.encode()) < 3_000_000, len(pj.encode())
    write(os.path.join(OUT, "park.json"), pj)
    write(os.path.join(OUT, "site-plan.geojson"), sj)
    write(os.path.join(OUT, "devices.csv"), dev_csv)
    write(os.path.join(OUT, "points.csv"), pt_csv)
    npoints = sum(len(d["points"]) for d in park["devices"])
    mh = sum(1 for i in park["installations"] if "major_hazard" in i)
    print("demo park: %d enterprises, %d areas, %d installations (%d major hazard sources), "
          "%d devices (%d gas detectors, %d tanks, %d HJ 212 stations, %d fire panels, %d gates, "
          "%d kilns, %d cameras, %d vehicle terminals), %d points, %d vehicles, %d geofences, "
          "%d site-plan features, %d gathering places; csv %d devices %d points"
          % (len(park["enterprises"]), len(park["areas"]), len(park["installations"]), mh,
             len(park["devices"]), count["gas_detector"], count["tank_sensor_set"],
             count["env_station"], count["fire_panel"], count["gate"], count["kiln"],
             count["camera"], count["vehicle_terminal"], npoints, len(park["vehicles"]),
             len(park["geofences"]), len(site["features"]), len(park["gathering_places"]),
             len(dev_rows), len(pt_rows)))


if __name__ == "__main__":
    main()
