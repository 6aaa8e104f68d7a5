"""scripts/embed-sql, the generator that compiles unpriv/sql/ into the
broker: its C must compile cleanly and mean exactly the files' bytes,
whatever they hold, in version order; malformed inputs are refused.
"""
import os
import shutil
import subprocess

import pytest

from conftest import REPO

EMBED = os.path.join(REPO, "scripts", "embed-sql")
CC = shutil.which("cc") or shutil.which("gcc")
CFLAGS = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror",
          "-Wconversion", "-Wtrigraphs", "-Wmissing-prototypes"]

# Every byte the generator has to escape, and then some.
NASTY = (b'-- "quotes", \\backslashes\\, ??= ??/ trigraphs, \t tabs\n'
         b"SELECT E'\\x41\\n' AS a, $$ \\ $$ AS b; -- \xc2\xa7 UTF-8\r\n"
         b"\x01\x1f\x7f\x80\xff bytes; \x0112 \x1b7; %d %s %n printf;\n"
         b"\\101\\0101 octal-looking text?\n" + b"x" * 5000 +
         b"\nlast line without newline")

HARNESS = r"""
#include <stdio.h>
#include "unpriv/migrate.h"
int main(void);
int
main(void)
{
	size_t i;
	for (i = 0; i < migrate_count; i++) {
		printf("%d %s %zu\n", migrate_list[i].version,
		    migrate_list[i].name, migrate_list[i].len);
		fwrite(migrate_list[i].sql, 1, migrate_list[i].len, stdout);
		printf("\n--end--\n");
	}
	return 0;
}
"""


def pg_cflags():
    p = subprocess.run(["pkg-config", "--cflags-only-I", "libpq"],
                       capture_output=True, text=True)
    return p.stdout.split() if p.returncode == 0 else \
        ["-I/usr/include/postgresql"]


def embed(files):
    return subprocess.run([EMBED] + files, capture_output=True)


def build_and_run(tmp_path, c_source):
    gen = tmp_path / "gen.c"
    gen.write_bytes(c_source)
    main = tmp_path / "main.c"
    main.write_text(HARNESS)
    exe = tmp_path / "prog"
    subprocess.run([CC] + CFLAGS + ["-I", REPO] + pg_cflags() +
                   ["-o", str(exe), str(gen), str(main)], check=True)
    return subprocess.run([str(exe)], capture_output=True, check=True).stdout


def test_bytes_survive_exactly(tmp_path):
    files = {"002_second.sql": NASTY,
             "001_first.sql": b"CREATE TABLE a (x int);\n",
             "010_tenth_one.sql": b"?"}
    for name, body in files.items():
        (tmp_path / name).write_bytes(body)
    # Given out of order: written in version order.
    p = embed([str(tmp_path / n) for n in files])
    assert p.returncode == 0, p.stderr
    out = build_and_run(tmp_path, p.stdout)
    want = b""
    for v, name in ((1, "first"), (2, "second"), (10, "tenth_one")):
        body = files[f"{v:03d}_{name}.sql"]
        want += f"{v} {name} {len(body)}\n".encode() + body + b"\n--end--\n"
    assert out == want


def test_the_real_migrations_compile(tmp_path):
    sql = sorted(os.path.join(REPO, "unpriv", "sql", f)
                 for f in os.listdir(os.path.join(REPO, "unpriv", "sql")))
    p = embed(sql)
    assert p.returncode == 0, p.stderr
    out = build_and_run(tmp_path, p.stdout)
    for f in sql:
        with open(f, "rb") as fp:
            assert fp.read() in out


@pytest.mark.parametrize("names,why", [
    (["1_a.sql"], b"not named NNN_name.sql"),
    (["001-a.sql"], b"not named NNN_name.sql"),
    (["001_A.sql"], b"[a-z0-9_]+"),
    (["001_.sql"], b"[a-z0-9_]+"),
    (["001_a.txt"], b"not named NNN_name.sql"),
    (["000_zero.sql"], b"versions start at 001"),
    (["001_a.sql", "001_b.sql"], b"version 001 used more than once"),
    (["001_a b.sql"], b"[a-z0-9_]+"),
])
def test_refused_names(tmp_path, names, why):
    for n in names:
        (tmp_path / n).write_bytes(b"SELECT 1;\n")
    p = embed([str(tmp_path / n) for n in names])
    assert p.returncode != 0
    assert why in p.stderr


def test_refused_contents(tmp_path):
    (tmp_path / "001_empty.sql").write_bytes(b"")
    p = embed([str(tmp_path / "001_empty.sql")])
    assert p.returncode != 0 and b"empty" in p.stderr
    (tmp_path / "002_nul.sql").write_bytes(b"SELECT 1;\x00SELECT 2;\n")
    p = embed([str(tmp_path / "002_nul.sql")])
    assert p.returncode != 0 and b"NUL" in p.stderr
    p = embed([str(tmp_path / "003_missing.sql")])
    assert p.returncode != 0 and b"cannot read" in p.stderr
    p = embed([])
    assert p.returncode != 0 and b"usage" in p.stderr
