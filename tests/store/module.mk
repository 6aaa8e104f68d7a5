# The broker's database layer: db.c, migrate.c, store.c, vault.c and the
# embedded migrations.  One program, one cmocka group per file.  The groups
# that need PostgreSQL run when DROMOS_TEST_PG holds the conninfo of an
# empty database (tests/e2e/test_store.py provides one) and are left out
# otherwise.
#
# It is built from the sources it tests rather than from libdromos-unpriv,
# so that it does not depend on the rest of the broker; the objects are
# the same files the library is made of.
UNITS += store
# Recursive: UNPRIV_SQL_C is set by unpriv/module.mk, included later.
test_store_SRCS = $(wildcard tests/store/*.c) tests/unpriv/fakekh.c \
	unpriv/db.c unpriv/migrate.c unpriv/store.c unpriv/vault.c \
	unpriv/khclient.c unpriv/accesslog.c unpriv/metrics.c $(UNPRIV_SQL_C)
test_store_LIBS := imsg common
test_store_LDLIBS := -ljansson -lpq -lpthread

$(BUILD)/obj/tests/store/%.o: CPPFLAGS += $(shell pkg-config \
	--cflags-only-I libpq 2>/dev/null || echo -I/usr/include/postgresql)
