build/tests/main_test.o: tests/main_test.cpp tests/test.h
tests/test.h:
