// A screen load for the RDP/VNC benchmarks, drawn on an X server (Xvfb) with plain Xlib:
//   x11-load MODE FPS SECONDS      (DISPLAY names the X server)
// MODE: scroll (a full-screen window of text that scrolls up one line per frame, a new line
// drawn at the bottom: a terminal or a web page scrolling), full (the whole window painted a
// new colour each frame), type (one character drawn per frame, as typing does), idle (the
// window, then nothing). Prints the frames it drew.
#include <X11/Xlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 4) { fprintf(stderr, "usage: x11-load scroll|full|type|idle FPS SECONDS\n"); return 2; }
  const char* mode = argv[1];
  double fps = atof(argv[2]), seconds = atof(argv[3]);
  Display* d = XOpenDisplay(NULL);
  if (!d) { fprintf(stderr, "x11-load: cannot open the display\n"); return 1; }
  int screen = DefaultScreen(d);
  int w = DisplayWidth(d, screen), h = DisplayHeight(d, screen);
  Window win = XCreateSimpleWindow(d, RootWindow(d, screen), 0, 0, (unsigned)w, (unsigned)h, 0, BlackPixel(d, screen), WhitePixel(d, screen));
  XSetWindowAttributes a;
  a.override_redirect = True;  // no window manager on Xvfb: placed as asked
  XChangeWindowAttributes(d, win, CWOverrideRedirect, &a);
  XMapRaised(d, win);
  GC gc = XCreateGC(d, win, 0, NULL);
  XFontStruct* font = XLoadQueryFont(d, "fixed");
  if (font) XSetFont(d, gc, font->fid);
  int line = font ? font->ascent + font->descent + 2 : 16;
  XSync(d, False);
  const char* words = "the quick brown fox jumps over the lazy dog 0123456789 ";
  long frames = 0;
  int col = 0, row = 1;
  double start = now(), next = start;
  while (now() - start < seconds) {
    char text[512];
    if (strcmp(mode, "scroll") == 0) {
      XCopyArea(d, win, win, gc, 0, line, (unsigned)w, (unsigned)(h - line), 0, 0);
      XSetForeground(d, gc, WhitePixel(d, screen));
      XFillRectangle(d, win, gc, 0, h - line, (unsigned)w, (unsigned)line);
      XSetForeground(d, gc, BlackPixel(d, screen));
      int n = snprintf(text, sizeof text, "%06ld %s%s%s", frames, words, words, words);
      XDrawString(d, win, gc, 4, h - 4, text, n);
    } else if (strcmp(mode, "full") == 0) {
      XSetForeground(d, gc, (frames & 1) ? 0x3366cc : 0xcc6633);
      XFillRectangle(d, win, gc, 0, 0, (unsigned)w, (unsigned)h);
    } else if (strcmp(mode, "type") == 0) {
      XSetForeground(d, gc, BlackPixel(d, screen));
      char c = words[frames % (long)strlen(words)];
      XDrawString(d, win, gc, 4 + col * 6, row * line, &c, 1);
      if (++col > (w - 8) / 6) { col = 0; if (++row * line > h) row = 1; }
    }
    XSync(d, False);
    frames++;
    next += 1.0 / fps;
    double wait = next - now();
    if (wait > 0) { struct timespec t = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)}; nanosleep(&t, NULL); }
  }
  printf("%ld\n", frames);
  XCloseDisplay(d);
  return 0;
}
