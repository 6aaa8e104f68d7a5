# The audit log verifier reads logs copied from anywhere.
FUZZ += auditverify
fuzz_auditverify_SRCS := fuzz/auditverify/fuzz_auditverify.c
fuzz_auditverify_LIBS := priv common
fuzz_auditverify_LDLIBS := $(DROMOS_TSS_LIBS) -lsodium -lcrypto -ljansson
