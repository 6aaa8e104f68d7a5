# dromosd, the keyholder.  Everything in priv/ that is not part of the daemon
# proper forms libdromos-priv (AEAD, keyring, audit chain, key sources), which
# dromosctl links too for key init, TPM sealing and offline audit checks.
PROGS += dromosd
dromosd_SRCS := $(filter priv/dromosd.c priv/keyholder.c, $(wildcard priv/*.c)) \
    common/wipefree.c
dromosd_LIBS := priv imsg policy common
dromosd_LDLIBS := $(DROMOS_TSS_LIBS) -lsodium -lcrypto -ljansson -lseccomp -lcap

LIBS += priv
priv_SRCS := $(filter-out $(dromosd_SRCS), $(wildcard priv/*.c))

MAN8 += man/dromosd.8
MAN5 += man/dromos.conf.5
