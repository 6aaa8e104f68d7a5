# Change announcements come from the database, where any role allowed to
# NOTIFY on the channel can send one: their payload is untrusted.
FUZZ += notify
fuzz_notify_SRCS := fuzz/notify/fuzz_notify.c
fuzz_notify_LIBS := unpriv common
fuzz_notify_LDLIBS = $(UNPRIV_LDLIBS)
