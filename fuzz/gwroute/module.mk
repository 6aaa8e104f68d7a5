# The gateway's request validator and router: every byte of a request
# comes from the network.  The response head parser rides along.
FUZZ += gwroute
fuzz_gwroute_SRCS := fuzz/gwroute/fuzz_gwroute.c
fuzz_gwroute_LIBS := gateway common
fuzz_gwroute_LDLIBS := -ljansson -lssl -lcrypto -lpthread
