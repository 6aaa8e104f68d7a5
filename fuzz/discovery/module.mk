# Authorization server metadata comes from the network (RFC 8414).
FUZZ += discovery
fuzz_discovery_SRCS := fuzz/discovery/fuzz_discovery.c
fuzz_discovery_LIBS := unpriv
fuzz_discovery_LDLIBS = $(UNPRIV_LDLIBS)
