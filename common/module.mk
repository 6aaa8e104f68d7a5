LIBS += common
common_SRCS := common/log.c
