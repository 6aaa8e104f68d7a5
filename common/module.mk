LIBS += common
common_SRCS := common/log.c common/conf.c common/jsonmem.c common/addr.c \
    common/mxserve.c common/histogram.c common/secfile.c common/osslmem.c common/osslpem.c
# common/wipefree.c (free(3) that wipes) is not in the library: each program
# that wants it names it among its own sources, so nothing takes it unasked.
