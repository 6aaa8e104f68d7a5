LIBS += imsg
imsg_SRCS := imsg/imsg.c imsg/imsg-typed.c
MAN3 += imsg/imsg.3
