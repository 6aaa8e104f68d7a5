LIBS += common
common_SRCS := common/log.c common/conf.c common/jsonmem.c common/addr.c \
    common/mxserve.c common/histogram.c common/secfile.c common/osslmem.c common/osslpem.c
