#!/usr/bin/python3
"""Turns one of docs/man/*.md into a roff man page (man(7) macros).

The Markdown is a small, fixed subset, so a reader can check the output by eye:
  % NAME(SECTION) | title          first line: the page's name, section and title
  # HEADING                        a section (.SH), upper-cased
  ## Heading                       a subsection (.SS)
  a paragraph                      text lines up to a blank line (.PP)
  `term`                           a line that is only code, followed by lines indented two
    description                    spaces: a tagged paragraph (.TP), as option lists want
  - item                           a bullet (.IP)
  ```  ...  ```                    verbatim lines (.nf/.fi, in a .RS block)
Inline: `code` and **bold** print bold, *word* italic.

Usage: md2man.py SOURCE.md OUTPUT [VERSION]
"""
import re
import sys


def escape(text):
    text = text.replace("\\", "\\e")
    # A line starting with . or ' would be read as a request.
    return re.sub(r"^([.'])", r"\\&\1", text)


def inline(text):
    text = escape(text).replace("-", "\\-")
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", text)
    text = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\\fI\1\\fR", text)
    return text


def convert(lines, version):
    header = re.match(r"%\s*(\S+)\((\d)\)\s*\|\s*(.*)", lines[0])
    if not header:
        raise SystemExit("md2man: the first line must be '% NAME(SECTION) | title'")
    name, section, title = header.groups()
    out = [f'.TH "{name.upper()}" "{section}" "" "seqd {version}" "{title}"']
    index = 1
    paragraph = []

    def flush():
        if paragraph:
            out.append(".PP")
            out.append(inline(" ".join(paragraph)))
            paragraph.clear()

    while index < len(lines):
        line = lines[index]
        index += 1
        if line.startswith("```"):
            flush()
            out += [".RS 4", ".nf"]
            while index < len(lines) and not lines[index].startswith("```"):
                out.append(escape(lines[index]).replace("-", "\\-") or "\\&")
                index += 1
            index += 1
            out += [".fi", ".RE"]
        elif line.startswith("## "):
            flush()
            out.append(f'.SS "{escape(line[3:].strip())}"')
        elif line.startswith("# "):
            flush()
            out.append(f".SH {escape(line[2:].strip().upper())}")
        elif line.startswith("- "):
            flush()
            item = [line[2:].strip()]
            while index < len(lines) and lines[index].startswith("  ") and lines[index].strip():
                item.append(lines[index].strip())
                index += 1
            out += [".IP \\(bu 2", inline(" ".join(item))]
        elif (re.fullmatch(r"`[^`]+`.*", line) and index < len(lines) and
              lines[index].startswith("  ") and not paragraph):
            out += [".TP", inline(line.strip())]
            body = []
            while index < len(lines) and lines[index].startswith("  ") and lines[index].strip():
                body.append(lines[index].strip())
                index += 1
            out.append(inline(" ".join(body)))
        elif not line.strip():
            flush()
        else:
            paragraph.append(line.strip())
    flush()
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as source:
        lines = source.read().splitlines()
    page = convert(lines, sys.argv[3] if len(sys.argv) == 4 else "")
    with open(sys.argv[2], "w", encoding="utf-8") as target:
        target.write(page)


if __name__ == "__main__":
    main()
