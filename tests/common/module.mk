UNITS += common
test_common_SRCS := tests/common/test_log.c
test_common_LIBS := common

UNITS += histogram
test_histogram_SRCS := tests/common/test_histogram.c
test_histogram_LIBS := common

# A program of its own: OpenSSL's allocator is replaced before OpenSSL
# allocates anything.
UNITS += osslmem
test_osslmem_SRCS := tests/common/test_osslmem.c
test_osslmem_LIBS := common
test_osslmem_LDLIBS := -lcrypto

# A program of its own: it links common/wipefree.c, as the daemons do.
# Not in sanitizer builds, which leave wipefree.c out (their run-time
# replaces the allocator).
ifeq ($(SAN),)
UNITS += wipefree
test_wipefree_SRCS := tests/common/test_wipefree.c common/wipefree.c
test_wipefree_LIBS :=
test_wipefree_LDLIBS := -lcrypto
endif
