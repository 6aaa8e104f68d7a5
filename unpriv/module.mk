# dromos-broker, the unprivileged broker.  Everything in unpriv/ except the
# daemon's main() forms libdromos-unpriv, which the unit tests link.
PROGS += dromos-broker
dromos-broker_SRCS := unpriv/broker.c
dromos-broker_LIBS := unpriv imsg policy common
UNPRIV_LDLIBS := -lmicrohttpd -ljansson -lpq -lcurl -lssl -lcrypto
dromos-broker_LDLIBS := $(UNPRIV_LDLIBS) -lseccomp -lcap

LIBS += unpriv
unpriv_SRCS := $(filter-out $(dromos-broker_SRCS), $(wildcard unpriv/*.c))

# libpq's headers live in their own directory.
UNPRIV_CPPFLAGS := $(shell pkg-config --cflags-only-I libpq 2>/dev/null || \
	echo -I/usr/include/postgresql)
$(BUILD)/obj/unpriv/%.o: CPPFLAGS += $(UNPRIV_CPPFLAGS)

MAN8 += man/dromos-broker.8
