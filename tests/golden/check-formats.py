#!/usr/bin/python3
"""Independent checks of vldoc's writers on the golden inputs (TAP).

usage: check-formats.py OUTDIR SRCDIR [SHARED]

OUTDIR holds NAME.{json,md,html,txt,jsonl,sections.jsonl} written by
`run-golden -o OUTDIR`. For every NAME:
  - every output is valid UTF-8; NAME.json validates against
    docs/vldoc-schema.json and every JSONL line against
    docs/vldoc-chunk-schema.json (python3-jsonschema, Draft 2020-12);
  - NAME.md parsed by cmark-gfm (the GFM reference implementation) has
    the structure of the tree in NAME.json: the same headings and levels,
    paragraphs, list items and nesting, table cells (GFM tables and the
    HTML fallback for merged cells), formulas and code, in order, with the
    text rendering as written;
  - NAME.html parsed by html.parser has no script, style, frame or object
    element, no on* attribute and no javascript: URL, and every data-bbox
    is the block's page box;
  - with SHARED, the real model outputs' NAME.elements.gt.json: every
    element with a data-bbox is a block with the same box (model pixels)
    and the same text; the page flags match the ground truth's notes.
"""
import html.parser
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

try:
    import jsonschema
except ImportError:
    print("1..0 # SKIP python3-jsonschema not installed")
    sys.exit(0)

n_test = 0
n_fail = 0


def ok(cond, desc, diag=None):
    global n_test, n_fail
    n_test += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n_test, desc))
    if not cond:
        n_fail += 1
        if diag:
            for line in str(diag).splitlines()[:12]:
                print("# " + line)
    sys.stdout.flush()
    return cond


# ---- the tree as the Markdown writer should render it ----

FURNITURE = {"page_header", "page_footer", "page_number"}


def ws(s):
    return re.sub(r"\s+", " ", s).strip()


def math_end(s, i):
    """Index after a $...$ span at s[i] (the writer's rules), or 0."""
    n = len(s)
    if i > 0 and s[i - 1] == "\\":
        return 0
    if i + 1 < n and s[i + 1] == "$":
        j = s.find("$$", i + 2)
        return j + 2 if j > i + 2 else 0
    if i + 1 >= n or s[i + 1].isspace():
        return 0
    j = i + 1
    while j < n:
        if s[j] == "\\":
            j += 2
            continue
        if (s[j] == "$" and not s[j - 1].isspace()
                and not (j + 1 < n and s[j + 1].isdigit())):
            return j + 1
        j += 1
    return 0


def strip_math(s):
    """The text with math spans taken out: math passes through verbatim for
    math renderers, which cmark-gfm is not."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "$":
            e = math_end(s, i)
            if e:
                out.append(" ")
                i = e
                continue
        out.append(s[i])
        i += 1
    return "".join(out)


def norm(s):
    return ws(strip_math(s))


def expect_blocks(blocks, keep_furniture=False):
    """Expected Markdown block sequence for a list of JSON blocks."""
    out = []
    for b in blocks:
        k = b["kind"]
        if k in FURNITURE and not keep_furniture:
            continue
        if k in ("title", "heading"):
            if b["text"]:
                out.append(("heading", 1 if k == "title" else b["level"],
                            ws(b["text"].replace("\n", " "))))
        elif k == "list":
            if b.get("children"):
                out.append(("list", b["ordered"], expect_items(b)))
        elif k == "table":
            kids = b.get("children", [])
            rows = [r for r in kids if r["kind"] == "table_row"]
            first = next((i for i, r in enumerate(kids)
                          if r["kind"] == "table_row"), len(kids))
            for c in kids[:first]:
                if c["text"]:
                    out.append(("paragraph", norm(c["text"])))
            if any(r.get("children") for r in rows):
                out.append(("table", [[(norm(c["text"]), c["rowspan"],
                                        c["colspan"])
                                       for c in r.get("children", [])]
                                      for r in rows]))
            for c in kids[first:]:
                if c["kind"] != "table_row" and c["text"]:
                    out.append(("paragraph", norm(c["text"])))
        elif k == "formula":
            if b["text"]:
                out.append(("math", b["display"]))
            out += expect_blocks(b.get("children", []), keep_furniture)
        elif k == "code":
            if b["text"]:
                out.append(("code", (b.get("format") or "").split(" ")[0],
                            b["text"].rstrip("\n")))
        elif k == "figure":
            out.append(("html", "comment"))
            out += expect_blocks(b.get("children", []), keep_furniture)
        elif k == "image":
            pass
        else:
            if b["text"]:
                out.append(("paragraph", norm(b["text"])))
            out += expect_blocks(b.get("children", []), keep_furniture)
    return out


def expect_items(lst):
    items = []
    for it in lst.get("children", []):
        subs = [("list", c["ordered"], expect_items(c))
                for c in it.get("children", []) if c["kind"] == "list"]
        items.append((norm(it["text"]), subs))
    return items


# ---- cmark-gfm's view of the Markdown ----

NS = "{http://commonmark.org/xml/1.0}"


def inline_text(node):
    """Rendered text of an inline container: what a reader sees."""
    parts = []

    def rec(n):
        tag = n.tag.replace(NS, "")
        if tag in ("text", "code"):
            parts.append(n.text or "")
        elif tag == "softbreak":
            parts.append(" ")
        elif tag == "linebreak":
            parts.append("\n")
        elif tag == "html_inline":
            parts.append("\n" if re.match(r"<br\s*/?>", n.text or "")
                         else (n.text or ""))
        else:
            if tag in ("emph", "strong", "strikethrough"):
                parts.append("\x00%s\x00" % tag)  # visible as a mismatch
            for c in n:
                rec(c)
    for c in node:
        rec(c)
    return "".join(parts)


class TableHTML(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.cell = [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = [[], int(a.get("rowspan", 1)),
                         int(a.get("colspan", 1))]
        elif tag == "br" and self.cell:
            self.cell[0].append("\n")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell:
            self.rows[-1].append((ws("".join(self.cell[0])), self.cell[1],
                                  self.cell[2]))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[0].append(data)


def source_of(n, md_lines):
    """The Markdown source lines of node N (cmark --sourcepos)."""
    m = re.match(r"(\d+):\d+-(\d+):\d+", n.get("sourcepos", ""))
    if not m:
        return ""
    return "\n".join(md_lines[int(m.group(1)) - 1:int(m.group(2))]).strip()


def md_blocks(nodes, md_lines):
    out = []
    for n in nodes:
        tag = n.tag.replace(NS, "")
        if tag == "heading":
            out.append(("heading", int(n.get("level")), ws(inline_text(n))))
        elif tag == "paragraph":
            src = source_of(n, md_lines)
            if src.startswith("$$") and src.endswith("$$") and len(src) > 4:
                out.append(("math", True))
            elif src.startswith("$") and math_end(src, 0) == len(src):
                out.append(("math", False))
            else:
                out.append(("paragraph", norm(inline_text(n))))
        elif tag == "list":
            out.append(("list", n.get("type") == "ordered", md_items(n)))
        elif tag == "table":
            rows = []
            for r in n:
                rows.append([(norm(inline_text(c)), 1, 1) for c in r])
            out.append(("table", rows))
        elif tag == "html_block":
            t = n.text or ""
            if "<table" in t:
                p = TableHTML()
                p.feed(t)
                out.append(("table", p.rows))
            else:
                out.append(("html", "comment"))
        elif tag == "code_block":
            out.append(("code", n.get("info") or "",
                        (n.text or "").rstrip("\n")))
        else:
            out.append((tag,))
    return out


def md_items(lst):
    items = []
    for it in lst:
        text, subs = "", []
        for c in it:
            tag = c.tag.replace(NS, "")
            if tag == "paragraph":
                text = norm(inline_text(c))
            elif tag == "list":
                subs.append(("list", c.get("type") == "ordered",
                             md_items(c)))
        items.append((text, subs))
    return items


def gfm_table_rows(rows):
    """GFM tables pad ragged rows; compare without the padding."""
    return [[c for c in r] for r in rows]


def normalise_tables(seq):
    out = []
    for e in seq:
        if e[0] == "table":
            rows = []
            for r in e[1]:
                r = list(r)
                while r and r[-1] == ("", 1, 1):
                    r.pop()
                rows.append(r)
            out.append(("table", rows))
        else:
            out.append(e)
    return out


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return "block %d:\n tree: %r\n   md: %r" % (i, x, y)
    return "length %d (tree) vs %d (md)" % (len(a), len(b))


# ---- the elements ground truth ----

def full_text(b):
    """Text of a block and what is inside it, leaving out printed captions
    vldoc attached from a neighbouring paragraph."""
    parts = [b["text"]] if b["text"] else []
    for c in b.get("children", []):
        if c["kind"] == "caption" and not c.get("derived") and \
                b["kind"] in ("figure", "table"):
            continue
        t = full_text(c)
        if t:
            parts.append(t)
    return " ".join(parts)


def all_blocks(blocks):
    for b in blocks:
        yield b
        yield from all_blocks(b.get("children", []))


def main():
    outdir, srcdir = sys.argv[1], sys.argv[2]
    shared = sys.argv[3] if len(sys.argv) > 3 else ""
    with open(os.path.join(srcdir, "docs/vldoc-schema.json")) as f:
        doc_schema = jsonschema.Draft202012Validator(json.load(f))
    with open(os.path.join(srcdir, "docs/vldoc-chunk-schema.json")) as f:
        chunk_schema = jsonschema.Draft202012Validator(json.load(f))
    names = sorted(f[:-5] for f in os.listdir(outdir) if f.endswith(".json"))
    ok(len(names) >= 7, "%d golden inputs to check" % len(names))
    try:
        subprocess.run(["cmark-gfm", "--version"], capture_output=True)
        have_cmark = True
    except OSError:
        have_cmark = False
    gt_dir = os.path.join(shared, "corpus", "qwenvl-html") if shared else ""

    for name in names:
        path = lambda ext: os.path.join(outdir, name + "." + ext)
        raw = {}
        for ext in ("json", "md", "html", "txt", "jsonl", "sections.jsonl"):
            with open(path(ext), "rb") as f:
                raw[ext] = f.read()
        bad = []
        for ext, data in raw.items():
            try:
                data.decode("utf-8", errors="strict")
            except UnicodeDecodeError as e:
                bad.append("%s: %s" % (ext, e))
        ok(not bad, "%s: every output is valid UTF-8" % name, bad)

        doc = json.loads(raw["json"])
        errs = sorted(doc_schema.iter_errors(doc), key=str)
        ok(not errs, "%s.json validates against vldoc-schema.json" % name,
           "\n".join(e.message for e in errs[:5]))
        errs = []
        for ext in ("jsonl", "sections.jsonl"):
            for i, line in enumerate(raw[ext].decode().splitlines()):
                try:
                    rec = json.loads(line)
                except ValueError as e:
                    errs.append("%s line %d: %s" % (ext, i + 1, e))
                    continue
                errs += ["%s line %d: %s" % (ext, i + 1, e.message)
                         for e in chunk_schema.iter_errors(rec)]
        ok(not errs, "%s: every JSONL line validates against "
           "vldoc-chunk-schema.json" % name, "\n".join(errs[:5]))

        # Markdown through cmark-gfm
        if have_cmark:
            r = subprocess.run(["cmark-gfm", "--sourcepos", "-e", "table",
                                "-e", "strikethrough", "-e", "autolink",
                                "-t", "xml"], input=raw["md"],
                               capture_output=True)
            tree = ET.fromstring(r.stdout)
            md_lines = raw["md"].decode().split("\n")
            got = normalise_tables(md_blocks(list(tree), md_lines))
            want = []
            for pg in doc["pages"]:
                if pg["status"] != "ok":
                    want.append(("html", "comment"))
                    continue
                want += expect_blocks(pg["blocks"])
            want = normalise_tables(want)
            ok(got == want, "%s.md parsed by cmark-gfm has the tree's "
               "structure and text (%d blocks)" % (name, len(want)),
               first_difference(want, got))
        else:
            ok(True, "# SKIP cmark-gfm not installed")

        # HTML: nothing executable, boxes are page boxes
        class Audit(html.parser.HTMLParser):
            def __init__(self):
                super().__init__(convert_charrefs=True)
                self.problems, self.boxes = [], []

            def handle_starttag(self, tag, attrs):
                if tag in ("script", "style", "iframe", "object", "embed",
                           "frame", "svg", "base", "link", "form"):
                    self.problems.append("<%s>" % tag)
                for k, v in attrs:
                    if k.startswith("on") or k in ("href", "src", "style",
                                                   "srcdoc", "action"):
                        self.problems.append("%s=%r" % (k, v))
                    if v and "javascript:" in v.lower():
                        self.problems.append("javascript: URL")
                    if k == "data-bbox":
                        self.boxes.append([float(x) for x in v.split()])
        a = Audit()
        a.feed(raw["html"].decode())
        ok(not a.problems, "%s.html carries nothing executable" % name,
           ", ".join(a.problems[:5]))
        want_boxes = [b["bbox"] for pg in doc["pages"]
                      for b in all_blocks(pg["blocks"]) if "bbox" in b]
        ok(sorted(a.boxes) == sorted(want_boxes),
           "%s.html: data-bbox are the page boxes "
           "(%d)" % (name, len(want_boxes)),
           "html: %r\ntree: %r" % (sorted(a.boxes)[:4], sorted(want_boxes)[:4]))

        # ground truth of the real model outputs
        gt_path = ""
        for base in (name, "qwen25vl_" + name):
            p = os.path.join(gt_dir, base + ".elements.gt.json") \
                if gt_dir else ""
            if p and os.path.exists(p):
                gt_path = p
        if not gt_path or not os.path.exists(gt_path):
            continue
        with open(gt_path) as f:
            gt = json.load(f)
        blocks = [b for pg in doc["pages"] for b in all_blocks(pg["blocks"])]
        pool = [(tuple(b["bbox_model"]), ws(full_text(b)), b["kind"])
                for b in blocks if "bbox_model" in b]
        missing = []
        for e in gt["elements"]:
            key = (tuple(float(x) for x in e["bbox"]), ws(e["text"]))
            hit = next((p for p in pool if p[0] == key[0] and p[1] == key[1]),
                       None)
            if hit:
                pool.remove(hit)
            else:
                missing.append("<%s> %s %r" % (e["tag"], e["bbox"],
                                                e["text"][:60]))
        ok(not missing and len(gt["elements"]) ==
           gt["n_elements_with_bbox"],
           "%s: all %d elements with data-bbox are blocks with the same "
           "box and text" % (name, gt["n_elements_with_bbox"]),
           "\n".join(missing))
        ok(not pool, "%s: no block has a box the model did not write" % name,
           pool[:3])
        flags = set(doc["pages"][0].get("flags", []))
        want = set()
        if not gt["output_complete"]:
            want.add("truncated")
        if gt["text_outside_fence"]:
            want.add("envelope")
        if gt["n_elements_with_bbox"] == 0:
            want.add("no_boxes")
        ok(want <= flags, "%s: page flags %s include %s" %
           (name, sorted(flags), sorted(want)))

    # the project's own corpus (text engine output) follows the schema too
    cdir = os.path.join(srcdir, "corpus")
    for f in sorted(os.listdir(cdir)) if os.path.isdir(cdir) else []:
        if not f.endswith(".expected.json"):
            continue
        with open(os.path.join(cdir, f)) as fp:
            errs = list(doc_schema.iter_errors(json.load(fp)))
        ok(not errs, "corpus/%s validates against vldoc-schema.json" % f,
           "\n".join(e.message for e in errs[:5]))

    print("1..%d" % n_test)
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
