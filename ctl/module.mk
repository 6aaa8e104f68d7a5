# dromosctl, the operator's tool.  Every ctl/*.c is part of it, so the TPM
# command (ctl/key_tpm.c) joins when its file does.
PROGS += dromosctl
dromosctl_SRCS := $(wildcard ctl/*.c) common/wipefree.c
dromosctl_LIBS := priv common
dromosctl_LDLIBS := $(DROMOS_TSS_LIBS) -lsodium -lcrypto -ljansson -lcurl

MAN8 += man/dromosctl.8
