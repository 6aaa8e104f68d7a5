UNITS += common
test_common_SRCS := tests/common/test_log.c
test_common_LIBS := common
