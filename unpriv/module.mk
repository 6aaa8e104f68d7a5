# dromos-broker, the unprivileged broker.  Everything in unpriv/ except the
# daemon's main() forms libdromos-unpriv, which the unit tests link.
PROGS += dromos-broker
dromos-broker_SRCS := unpriv/broker.c common/wipefree.c
dromos-broker_LIBS := unpriv imsg policy common
UNPRIV_LDLIBS := -lmicrohttpd -lgnutls -ljansson -lpq -lcurl -lssl -lcrypto \
	-lsodium
dromos-broker_LDLIBS := $(UNPRIV_LDLIBS) -lseccomp -lcap

LIBS += unpriv
unpriv_SRCS := $(filter-out $(dromos-broker_SRCS), $(wildcard unpriv/*.c))

# libpq's headers live in their own directory.
UNPRIV_CPPFLAGS := $(shell pkg-config --cflags-only-I libpq 2>/dev/null || \
	echo -I/usr/include/postgresql)
$(BUILD)/obj/unpriv/%.o: CPPFLAGS += $(UNPRIV_CPPFLAGS)

MAN8 += man/dromos-broker.8

# The migrations are compiled in: the sandboxed broker reads no files at
# run time.  scripts/embed-sql turns unpriv/sql/NNN_name.sql into C; the
# generated file is replaced only when its text changes (so adding,
# editing or removing a migration rebuilds it, and nothing else does),
# and it is a source of the library like any other.
UNPRIV_SQL := $(sort $(wildcard unpriv/sql/*.sql))
UNPRIV_SQL_C := $(BUILD)/gen/unpriv/sql_migrations.c
unpriv_SRCS += $(UNPRIV_SQL_C)

$(UNPRIV_SQL_C): scripts/embed-sql $(UNPRIV_SQL) unpriv-sql-force
	@mkdir -p $(@D)
	@scripts/embed-sql $(UNPRIV_SQL) > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; \
	else mv $@.tmp $@ && echo "scripts/embed-sql > $@"; fi
.PHONY: unpriv-sql-force
unpriv-sql-force:

# It includes unpriv/migrate.h, which includes libpq's header.
$(BUILD)/obj/$(UNPRIV_SQL_C:.c=.o): CPPFLAGS += $(UNPRIV_CPPFLAGS)
