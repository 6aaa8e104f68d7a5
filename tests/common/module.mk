UNITS += common
test_common_SRCS := tests/common/test_log.c
test_common_LIBS := common

UNITS += histogram
test_histogram_SRCS := tests/common/test_histogram.c
test_histogram_LIBS := common
