UNITS += priv
test_priv_SRCS := $(wildcard tests/priv/*.c)
test_priv_LIBS := priv imsg policy common
test_priv_LDLIBS := $(DROMOS_TSS_LIBS) -lsodium -lcrypto -lseccomp -lcap -ljansson
