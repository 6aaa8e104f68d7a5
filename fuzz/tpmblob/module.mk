# The TPM key blob is read from a file (dromosd "root key tpm", dromosctl).
# Its parser needs tpm2-tss's marshalling, so only with tpm2-tss.
ifneq ($(DROMOS_TSS_LIBS),)
FUZZ += tpmblob
fuzz_tpmblob_SRCS := fuzz/tpmblob/fuzz_tpmblob.c
fuzz_tpmblob_LIBS := priv common
fuzz_tpmblob_LDLIBS := $(DROMOS_TSS_LIBS)
endif
