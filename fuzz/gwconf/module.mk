# gateway.conf: the statements, "broker tls" host:port and name parsing,
# and the dump's round trip.
FUZZ += gwconf
fuzz_gwconf_SRCS := fuzz/gwconf/fuzz_gwconf.c
fuzz_gwconf_LIBS := gateway common
fuzz_gwconf_LDLIBS :=
