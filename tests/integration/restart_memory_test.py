"""Proves a restarted seqd gives back the store's pages its load read: after a kill -9 and a
restart over some tens of thousands of contacts, the pages of data.mdb resident in seqd (its
mapping's Rss in /proc/PID/smaps, part of RssFile) are a small part of the file, while every
contact is still there, field for field. Without the release the walk and the load leave
every page of the file resident.

Also that the contacts' texts are kept in an unnamed file of the state dir, not in the heap
(io/contact_text_file.hpp): a restart's heap is smaller by about their size than with
SEQD_CONTACT_TEXT_IN_HEAP=1, few of the file's pages stay resident, and every field reads back.

Also that seqd's heap is in large OS pages (transparent huge pages, AnonHugePages in
/proc/PID/smaps_rollup) unless MIMALLOC_LARGE_OS_PAGES=0 is in its environment."""
import os
import unittest

import harness
from harness import Daemon

CONTACTS = 40000
NOTE = "n" * 120  # ~200 bytes a contact record: data.mdb is several MB


def contacts_csv():
    lines = ["email,first_name,company,note"]
    for i in range(CONTACTS):
        lines.append("p%d@example.test,Name%d,Company %d,%s%d" % (i, i, i % 97, NOTE, i))
    return "\n".join(lines) + "\n"


def mapping_rss(pid, name):
    """Bytes resident of the mappings of the file `name` (its last path part) in pid."""
    total = 0
    inside = False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:
                inside = len(fields) >= 6 and os.path.basename(fields[5]) == name
            elif inside and fields[0] == "Rss:":
                total += int(fields[1]) * 1024
    return total


def rss_file(pid):
    return harness.proc_kib("/proc/%d/status" % pid, "RssFile")


class RestartMemory(unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)
        self.d.start()

    def test_a_restart_leaves_few_store_pages_resident(self):
        imported = self.d.json("import", self.d.write_file("c.csv", contacts_csv()))
        self.assertEqual(imported["imported"], CONTACTS, imported)
        self.d.kill()
        data_mdb = os.path.join(self.d.root, "state", "data.mdb")  # harness's state_dir
        file_bytes = os.path.getsize(data_mdb)
        self.assertGreater(file_bytes, 8 << 20, "the store is too small to tell")

        process = self.d.start()
        resident = mapping_rss(process.pid, "data.mdb")
        print("data.mdb %d bytes, %d resident in seqd after the restart; RssFile %d" % (
            file_bytes, resident, rss_file(process.pid)))
        self.assertLess(resident, file_bytes // 10)

        # Every contact loaded, and the pages fault back with the same bytes.
        shown = self.d.json("contact", "show", "p%d@example.test" % (CONTACTS - 1))
        self.assertEqual(shown["first_name"], "Name%d" % (CONTACTS - 1), shown)
        self.assertEqual(shown["fields"]["note"], NOTE + str(CONTACTS - 1), shown)
        listed = self.d.json("contacts", "--limit", str(CONTACTS + 1))
        self.assertEqual(len(listed["contacts"]), CONTACTS)


def unnamed_file_mappings(pid, state_dir):
    """(bytes mapped, bytes resident) of the deleted files of state_dir mapped in pid: the
    contact text file (made with O_TMPFILE, it shows as "#inode (deleted)")."""
    size = resident = 0
    inside = False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:
                inside = (len(fields) >= 7 and fields[5].startswith(state_dir + "/") and
                          fields[6] == "(deleted)")
            elif inside and fields[0] == "Size:":
                size += int(fields[1]) * 1024
            elif inside and fields[0] == "Rss:":
                resident += int(fields[1]) * 1024
    return size, resident


LONG_NOTE = "t" * 400  # ~420 bytes of text a contact: ~17 MB for all


def long_contacts_csv():
    lines = ["email,first_name,company,note"]
    for i in range(CONTACTS):
        lines.append("q%d@example.test,Name%d,Company %d,%s%d" % (i, i, i % 97, LONG_NOTE, i))
    return "\n".join(lines) + "\n"


class ContactTexts(unittest.TestCase):
    def setUp(self):
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)
        self.addCleanup(os.environ.pop, "SEQD_CONTACT_TEXT_IN_HEAP", None)

    def restarted_heap(self, texts_in_heap):
        if texts_in_heap:
            os.environ["SEQD_CONTACT_TEXT_IN_HEAP"] = "1"
        else:
            os.environ.pop("SEQD_CONTACT_TEXT_IN_HEAP", None)
        process = self.d.start()
        heap = harness.proc_kib("/proc/%d/status" % process.pid, "RssAnon")
        mapped = unnamed_file_mappings(process.pid, os.path.join(self.d.root, "state"))
        shown = self.d.json("contact", "show", "q%d@example.test" % (CONTACTS - 1))
        self.assertEqual(shown["first_name"], "Name%d" % (CONTACTS - 1), shown)
        self.assertEqual(shown["company"], "Company %d" % ((CONTACTS - 1) % 97), shown)
        self.assertEqual(shown["fields"]["note"], LONG_NOTE + str(CONTACTS - 1), shown)
        listed = self.d.json("contacts", "--limit", str(CONTACTS + 1))
        self.assertEqual(len(listed["contacts"]), CONTACTS)
        self.d.kill()
        return heap, mapped

    def test_a_restart_keeps_the_texts_in_a_file_not_in_the_heap(self):
        self.d.start()
        imported = self.d.json("import", self.d.write_file("c.csv", long_contacts_csv()))
        self.assertEqual(imported["imported"], CONTACTS, imported)
        self.d.kill()
        in_heap, heap_mapped = self.restarted_heap(True)
        in_file, file_mapped = self.restarted_heap(False)
        print("heap after a restart: %d with the texts in it, %d with them in the file; the "
              "file mapped %d, resident %d" % (in_heap, in_file, file_mapped[0], file_mapped[1]))
        self.assertIn("contact texts in an unnamed file", self.d.log())
        self.assertEqual(heap_mapped, (0, 0))
        text_bytes = CONTACTS * len(LONG_NOTE)
        self.assertGreaterEqual(file_mapped[0], text_bytes)  # a chunk of the file, or more
        self.assertLess(file_mapped[1], text_bytes // 10)    # the load's pages dropped
        if os.environ.get("SEQD_SANITIZED") == "1":
            return  # the sanitizers' allocator, not mimalloc, holds the heap: sizes differ
        self.assertGreater(in_heap - in_file, text_bytes // 2)


def anon_huge_pages(pid):
    return harness.proc_kib("/proc/%d/smaps_rollup" % pid, "AnonHugePages")


def transparent_huge_pages():
    """The kernel's THP setting, the bracketed word: always, madvise or never."""
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
        return f.read().split("[")[1].split("]")[0]


class LargePages(unittest.TestCase):
    def setUp(self):
        if os.environ.get("SEQD_SANITIZED") == "1":
            self.skipTest("the sanitizers' allocator, not mimalloc, holds the heap")
        if transparent_huge_pages() == "never":
            self.skipTest("transparent huge pages are off on this machine")
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)

    def heap_after_an_import(self):
        process = self.d.start()
        imported = self.d.json("import", self.d.write_file("c.csv", contacts_csv()))
        self.assertEqual(imported["imported"] + imported["updated"], CONTACTS, imported)
        huge = anon_huge_pages(process.pid)
        self.d.kill()
        return huge

    def test_the_heap_is_in_large_pages_unless_the_environment_says_no(self):
        huge = self.heap_after_an_import()
        print("AnonHugePages %d after importing %d contacts" % (huge, CONTACTS))
        self.assertGreaterEqual(huge, 2 << 20)

        os.environ["MIMALLOC_LARGE_OS_PAGES"] = "0"
        self.addCleanup(os.environ.pop, "MIMALLOC_LARGE_OS_PAGES")
        huge = self.heap_after_an_import()
        print("AnonHugePages %d with MIMALLOC_LARGE_OS_PAGES=0" % huge)
        self.assertEqual(huge, 0)


if __name__ == "__main__":
    harness.main()
