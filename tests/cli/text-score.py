#!/usr/bin/python3
"""Scoring helpers for the text engine's end-to-end tests (stdlib only).

  text-score.py olmocr GT.json OUT.md      olmOCR-bench unit tests on OUT.md
  text-score.py similar GT.md|GT.txt OUT   word-sequence similarity + order
  text-score.py fields GT.json OUT         invoice ground-truth values found
  text-score.py tables OUT.html GT.csv...  table structure against GT CSVs

Each prints one line per check and a last line "SCORE passed total".

olmocr: the semantics of olmocr/bench/tests.py (allenai/olmocr), re-written
here because rapidfuzz and fuzzysearch are not Debian 12 packages:
normalize_text as there; present/absent use rapidfuzz's partial_ratio
(best fuzz.ratio of the query against any same-length window of the
text, ratio = 2*LCS/(len a + len b)) against 1 - max_diffs/len(query);
order uses fuzzysearch's find_near_matches (Levenshtein <= max_diffs)
start positions; table parses Markdown pipe tables (first row and first
column are headings) and HTML tables and checks the cell and its
up/down/left/right/top_heading/left_heading neighbours with fuzz.ratio;
baseline checks the alphanumeric length for blank pages. math needs
KaTeX rendering upstream; here an equation passes only when the output
holds the same LaTeX between math delimiters (the upstream exact-match
shortcut), so plain text never passes it - for either tool compared.
"""
import csv
import html.parser
import json
import re
import sys
import unicodedata

# ---------------------------------------------------------------- olmOCR

def normalize_text(s):
    s = re.sub(r"<br/?>", " ", s)
    s = re.sub(r"\*\*(.*?)\*\*", r"\1", s)
    s = re.sub(r"__(.*?)__", r"\1", s)
    s = re.sub(r"</?b>", "", s)
    s = re.sub(r"</?i>", "", s)
    s = re.sub(r"(\*\*|__)(.*?)\1", r"\2", s)
    s = re.sub(r"(\*|_)(.*?)\1", r"\2", s)
    s = re.sub(r"\s+", " ", s)
    s = unicodedata.normalize("NFC", s)
    for a, b in {"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"',
                 "\u201d": '"', "\u201e": '"', "\uff3f": "_", "\u2013": "-",
                 "\u2014": "-", "\u2011": "-", "\u2012": "-", "\u2212": "-",
                 "\u00b5": "\u03bc"}.items():
        s = s.replace(a, b)
    return s


def lcs(a, b):
    """Length of the longest common subsequence (bit-parallel)."""
    if not a or not b:
        return 0
    masks = {}
    for i, ch in enumerate(a):
        masks[ch] = masks.get(ch, 0) | (1 << i)
    v = (1 << len(a)) - 1
    for ch in b:
        m = masks.get(ch, 0)
        u = v & m
        v = (v + u) | (v - u)
    return len(a) - bin(v & ((1 << len(a)) - 1)).count("1")


def ratio(a, b):
    if not a and not b:
        return 1.0
    return 2.0 * lcs(a, b) / (len(a) + len(b))


def sellers_ends(p, t, k):
    """End positions j (exclusive) where some substring of t ending there
    is within Levenshtein distance k of p."""
    m = len(p)
    prev = list(range(m + 1))
    ends = []
    for j, ch in enumerate(t):
        cur = [0] * (m + 1)
        for i in range(1, m + 1):
            cur[i] = min(prev[i] + 1, cur[i - 1] + 1,
                         prev[i - 1] + (p[i - 1] != ch))
        if cur[m] <= k:
            ends.append(j + 1)
        prev = cur
    return ends


def partial_ratio(q, t):
    """rapidfuzz.fuzz.partial_ratio / 100 for a query not longer than t."""
    if len(q) > len(t):
        q, t = t, q
    if not q:
        return 0.0
    if q in t:
        return 1.0
    m = len(q)
    best = 0.0
    # windows of length m (and the shorter ones at the ends); only those
    # sharing characters with q can score, so scan coarse first
    chars = set(q)
    for s in range(-m + 1, len(t)):
        a, b = max(0, s), min(len(t), s + m)
        if b - a <= 0 or t[a] not in chars:
            continue
        r = ratio(q, t[a:b])
        if r > best:
            best = r
            if best == 1.0:
                break
    return best


def near_starts(p, t, k):
    if k == 0:
        return [m.start() for m in re.finditer(re.escape(p), t)]
    rev = sellers_ends(p[::-1], t[::-1], k)
    return sorted(len(t) - e for e in rev)


class _Tables(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.row, self.cell, self.depth = [], None, None, 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.depth += 1
            if self.depth == 1:
                self.tables.append([])
        elif tag == "tr" and self.depth == 1:
            self.row = []
            self.tables[-1].append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            def span(v):
                try:
                    return max(1, int(v))
                except (TypeError, ValueError):
                    return 1
            self.cell = {"text": "", "rowspan": span(a.get("rowspan")),
                         "colspan": span(a.get("colspan")),
                         "is_heading": tag == "th"}
            self.row.append(self.cell)
        elif tag == "br" and self.cell is not None:
            self.cell["text"] += "\n"

    def handle_endtag(self, tag):
        if tag == "table":
            self.depth -= 1
        elif tag in ("td", "th"):
            self.cell = None

    def handle_data(self, d):
        if self.cell is not None:
            self.cell["text"] += d


def build_table(rows):
    """Grid with the neighbour relations of olmOCR's TableData."""
    occ, text, heading, meta, active = [], {}, set(), {}, []
    for r, cells in enumerate(rows):
        entries, col, si = [], 0, 0
        while si < len(cells) or col < len(active):
            if col < len(active) and active[col] is not None:
                cid, rem = active[col]
                entries.append(cid)
                active[col] = (cid, rem - 1) if rem > 1 else None
                col += 1
                continue
            if si >= len(cells):
                if col < len(active):
                    entries.append(None)
                    col += 1
                    continue
                break
            c = cells[si]
            si += 1
            cid = (r, col)
            text[cid] = c["text"].strip()
            if c["is_heading"]:
                heading.add(cid)
            meta[cid] = (r, col, c["rowspan"], c["colspan"])
            while len(active) < col + c["colspan"]:
                active.append(None)
            for o in range(c["colspan"]):
                entries.append(cid)
                active[col + o] = (cid, c["rowspan"] - 1) \
                    if c["rowspan"] > 1 else None
            col += c["colspan"]
        occ.append(entries)
    if not text:
        return None
    width = max(i for row in occ for i, v in enumerate(row) if v) + 1
    for row in occ:
        row.extend([None] * (width - len(row)))
        del row[width:]
    rel = {k: {cid: set() for cid in text}
           for k in ("up", "down", "left", "right", "top", "lefth")}
    height = len(occ)
    for cid, (r0, c0, rs, cs) in meta.items():
        r1, c1 = r0 + rs - 1, c0 + cs - 1
        for r in range(r0, r1 + 1):
            for c in range(c1 + 1, width):
                if occ[r][c] not in (None, cid):
                    rel["right"][cid].add(occ[r][c])
                    break
            for c in range(c0 - 1, -1, -1):
                if occ[r][c] not in (None, cid):
                    rel["left"][cid].add(occ[r][c])
                    break
            seen = set()
            for c in range(c0 - 1, -1, -1):
                n = occ[r][c]
                if n in (None, cid) or n in seen:
                    continue
                seen.add(n)
                if n in heading:
                    rel["lefth"][cid].add(n)
        for c in range(c0, c1 + 1):
            for r in range(r1 + 1, height):
                if occ[r][c] not in (None, cid):
                    rel["down"][cid].add(occ[r][c])
                    break
            for r in range(r0 - 1, -1, -1):
                if occ[r][c] not in (None, cid):
                    rel["up"][cid].add(occ[r][c])
                    break
            seen = set()
            for r in range(r0 - 1, -1, -1):
                n = occ[r][c]
                if n in (None, cid) or n in seen:
                    continue
                seen.add(n)
                if n in heading:
                    rel["top"][cid].add(n)
    return text, rel


def md_tables(md):
    out, cur = [], []
    for line in md.strip().split("\n") + [""]:
        if "|" in line:
            cur.append(line)
            continue
        if len(cur) >= 2:
            rows, sep = [], None
            for i, l in enumerate(cur):
                c = l.replace("|", "").strip()
                if c and all(ch in "- :" for ch in c):
                    sep = i
                    break
            for i, l in enumerate(cur):
                if i == sep or (l.strip() and all(ch in "- :|" for ch in l)):
                    continue
                cells = [x.strip() for x in l.split("|")]
                if cells and cells[0] == "":
                    cells = cells[1:]
                if cells and cells[-1] == "":
                    cells = cells[:-1]
                if cells:
                    rows.append(cells)
            specs = [[{"text": t, "rowspan": 1, "colspan": 1,
                       "is_heading": r == 0 or c == 0}
                      for c, t in enumerate(row)] for r, row in enumerate(rows)]
            t = build_table(specs)
            if t:
                out.append(t)
        cur = []
    return out


def table_test(t, content):
    thr = max(0.5, 1.0 - t.get("max_diffs", 0) / max(len(t["cell"]), 1))
    p = _Tables()
    p.feed(content)
    tables = md_tables(content) + [x for x in (build_table(r)
                                               for r in p.tables) if x]
    cell = normalize_text(t["cell"])
    for text, rel in tables:
        norm = {k: normalize_text(v) for k, v in text.items()}
        for pos, v in norm.items():
            if ratio(cell, v) < thr:
                continue
            good = True
            for key, rk in (("up", "up"), ("down", "down"), ("left", "left"),
                            ("right", "right"), ("top_heading", "top"),
                            ("left_heading", "lefth")):
                want = normalize_text(t.get(key) or "")
                if not want:
                    continue
                dthr = max(0.5, 1.0 - t.get("max_diffs", 0) / max(len(want), 1))
                if not any(ratio(want, norm[n]) >= dthr for n in rel[rk][pos]):
                    good = False
                    break
            if good:
                return True
    return False


def olmocr_test(t, md):
    ty = t["type"]
    d = t.get("max_diffs", 0)
    if ty in ("present", "absent"):
        q = normalize_text(t["text"])
        c = normalize_text(md)
        if not t.get("case_sensitive", True):
            q, c = q.lower(), c.lower()
        fn, ln = t.get("first_n"), t.get("last_n")
        if fn and ln:
            c = c[:fn] + c[-ln:]
        elif fn:
            c = c[:fn]
        elif ln:
            c = c[-ln:]
        if len(c) < len(q) - d:
            return ty == "absent"
        found = partial_ratio(q, c) >= 1.0 - d / max(len(q), 1)
        return found if ty == "present" else not found
    if ty == "order":
        c = normalize_text(md)
        b = near_starts(normalize_text(t["before"]), c, d)
        a = near_starts(normalize_text(t["after"]), c, d)
        return bool(b and a and min(b) < max(a))
    if ty == "table":
        return table_test(t, md)
    if ty == "baseline":
        n = len("".join(ch for ch in md if ch.isalnum()).strip())
        if t.get("max_length") is not None:
            return n <= t["max_length"]
        return n > 0
    if ty == "math":
        eqs = []
        for pat in (r"\\\((.+?)\\\)", r"\\\[(.+?)\\\]", r"\$\$(.+?)\$\$",
                    r"\$(.+?)\$"):
            eqs += [e.strip() for e in re.findall(pat, md, re.S)]
        return any(e == t["math"] for e in eqs)
    return False


def cmd_olmocr(gt, out):
    tests = json.load(open(gt))["tests"]
    md = open(out, encoding="utf-8", errors="replace").read()
    n = 0
    for t in tests:
        ok = olmocr_test(t, md)
        n += ok
        print("%s %s %s" % ("PASS" if ok else "FAIL", t["type"], t["id"]))
    print("SCORE %d %d" % (n, len(tests)))

# ------------------------------------------------------- layout similarity

def words(s):
    s = unicodedata.normalize("NFKC", s).lower()
    s = re.sub(r"<[^>]+>", " ", s)         # html tags, image comments
    s = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", s)
    return re.findall(r"\w+", s)


def cmd_similar(gt, out):
    import difflib
    a = words(open(gt, encoding="utf-8", errors="replace").read())
    b = words(open(out, encoding="utf-8", errors="replace").read())
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    blocks = sm.get_matching_blocks()
    matched = sum(x.size for x in blocks)
    recall = matched / max(len(a), 1)
    sim = 2.0 * matched / max(len(a) + len(b), 1)
    # order: GT words found in the output in the same order, as a share
    # of the GT words present in the output at all
    # bag of words: ground truth words found anywhere (for layout-mode
    # ground truths that interleave columns line by line)
    from collections import Counter
    ca, cb = Counter(a), Counter(b)
    bag = sum(min(n, cb[w]) for w, n in ca.items()) / max(len(a), 1)
    print("words gt=%d out=%d matched-in-order=%d" % (len(a), len(b), matched))
    print("SCORE %.3f %.3f %.3f" % (sim, recall, bag))

# -------------------------------------------------------- invoice fields

SKIP = {"issuer", "desc", "source", "note", "type_code", "unit_code",
        "category", "line_id", "pos", "n_line_items", "payment_method",
        "format", "currency"}
MONTHS = {m: i + 1 for i, ms in enumerate([
    "jan january januar janvier enero", "feb february februar fevrier fév février",
    "mar march märz maerz mars marzo", "apr april avril abril",
    "may mai mayo", "jun june juni juin junio",
    "jul july juli juillet julio", "aug august août aout agosto",
    "sep sept september septembre septiembre", "oct october oktober octobre octubre",
    "nov november novembre noviembre", "dec december dezember décembre diciembre"])
    for m in ms.split()}


def numbers_in(text):
    """Every number printed in TEXT, read both as 1,234.56 and 1.234,56."""
    vals = set()
    for tok in re.findall(r"\d[\d.,' \u00a0]*\d|\d", text):
        for t in {tok, tok.replace(" ", "").replace("\u00a0", "")}:
            t = t.replace("'", "")
            for dec, th in ((".", ","), (",", ".")):
                u = t.replace(th, "")
                if u.count(dec) > 1:
                    continue
                try:
                    vals.add(round(float(u.replace(dec, ".")), 4))
                except ValueError:
                    pass
    return vals


def dates_in(text):
    out = set()
    for y, m, d in re.findall(r"(\d{4})-(\d{1,2})-(\d{1,2})", text):
        out.add((int(y), int(m), int(d)))
    for a, b, y in re.findall(r"(\d{1,2})[./-](\d{1,2})[./-](\d{2,4})", text):
        y = int(y) + (2000 if len(y) == 2 else 0)
        out.add((y, int(b), int(a)))
        out.add((y, int(a), int(b)))
    low = text.lower()
    for d, mo, y in re.findall(r"(\d{1,2})\.?\s+([a-zäéû]+)\.?\s+(\d{4})", low):
        if mo in MONTHS:
            out.add((int(y), MONTHS[mo], int(d)))
    for mo, d, y in re.findall(r"([a-zäéû]+)\.?\s+(\d{1,2})\s*,?\s*(\d{4})", low):
        if mo in MONTHS:
            out.add((int(y), MONTHS[mo], int(d)))
    return out


def leaves(obj, key=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in SKIP:
                yield from leaves(v, k)
    elif isinstance(obj, list):
        for v in obj:
            yield from leaves(v, key)
    elif obj is not None and obj != "":
        yield key, obj


def cmd_fields(gt, out):
    g = json.load(open(gt))
    text = open(out, encoding="utf-8", errors="replace").read()
    text = re.sub(r"\\([^\w\s])", r"\1", text)  # Markdown escapes
    flat = re.sub(r"\s+", "", re.sub(r"\\(.)", r"\1", text)).lower()
    nums, dates = numbers_in(text), dates_in(text)
    n = tot = 0
    for key, v in leaves(g):
        if isinstance(v, bool):
            continue
        tot += 1
        ok = False
        if isinstance(v, (int, float)):
            ok = round(float(v), 4) in nums
        else:
            s = str(v)
            m = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})", s)
            if m and "date" in key:
                ok = tuple(int(x) for x in m.groups()) in dates or s in text
            else:
                ok = re.sub(r"\s+", "", s).lower() in flat
                if not ok and re.fullmatch(r"[\d.,]+", s):
                    try:
                        ok = round(float(s), 4) in nums
                    except ValueError:
                        pass
        n += ok
        print("%s %s=%r" % ("PASS" if ok else "FAIL", key, v))
    print("SCORE %d %d" % (n, tot))


# --------------------------------------------------------- table structure

def cell_norm(s):
    return " ".join(re.findall(r"\w+|[^\w\s]", s.lower()))


def adjacency(grid):
    """ICDAR 2013 adjacency relations of a grid of (text, cell id): each
    non-empty cell with the next non-empty one to its right and below."""
    out = []
    for row in grid:
        cells = [c for c in row if c[0]]
        cells = [c for i, c in enumerate(cells) if i == 0 or c[1] != cells[i - 1][1]]
        out += [(a[0], b[0], "h") for a, b in zip(cells, cells[1:])]
    width = max((len(r) for r in grid), default=0)
    for c in range(width):
        col = [r[c] for r in grid if c < len(r) and r[c][0]]
        col = [x for i, x in enumerate(col) if i == 0 or x[1] != col[i - 1][1]]
        out += [(a[0], b[0], "v") for a, b in zip(col, col[1:])]
    return out


def cmd_tables(out, gts):
    """Adjacency-relation F1 (the ICDAR 2013 table competition's structure
    measure) of each GT CSV table against the best-matching table of the
    QwenVL HTML OUT. The CSVs put a spanning cell's text in its first
    column only, so a cell's colspan is counted the same way."""
    from collections import Counter
    p = _Tables()
    p.feed(open(out, encoding="utf-8", errors="replace").read())
    tables = []
    for t in p.tables:
        grid = []
        for r, row in enumerate(t):
            g = []
            for c, cell in enumerate(row):
                g.append((cell_norm(cell["text"]), (r, c)))
                g += [("", (r, c))] * (cell["colspan"] - 1)
            grid.append(g)
        tables.append(Counter(adjacency(grid)))
    tot = 0.0
    for gt in gts:
        rows = list(csv.reader(open(gt, encoding="utf-8")))
        want = Counter(adjacency([[(cell_norm(c), (i, j)) for j, c in enumerate(r)]
                                  for i, r in enumerate(rows)]))
        best = (0.0, 0.0, 0.0)
        for have in tables:
            m = sum((want & have).values())
            rec, prec = m / max(sum(want.values()), 1), m / max(sum(have.values()), 1)
            f = 2 * rec * prec / (rec + prec) if m else 0.0
            best = max(best, (f, rec, prec))
        tot += best[0]
        print("TABLE %s F1 %.3f recall %.3f precision %.3f" %
              (gt.split("/")[-1], *best))
    print("SCORE %.3f %d" % (tot / max(len(gts), 1), len(gts)))


if __name__ == "__main__":
    if sys.argv[1] == "tables":
        cmd_tables(sys.argv[2], sys.argv[3:])
    else:
        {"olmocr": cmd_olmocr, "similar": cmd_similar,
         "fields": cmd_fields}[sys.argv[1]](sys.argv[2], sys.argv[3])
