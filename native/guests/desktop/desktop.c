/* The demo desktop: wallpaper, a window showing typed text, a mouse pointer that follows the
 * PS/2 mouse, and a clock driven by the timer interrupt. Interrupt handlers (CPL 0, emulated
 * slowly here) only move bytes into rings; everything else runs in user mode at full speed. */
#include "guest.h"
#include "font8x16.h"

#define W 1024
#define H 768
#define RING 256

struct ring { volatile uint32_t head, tail; volatile uint8_t buf[RING]; };
static struct ring kbd, mouse;
static volatile uint32_t* fb;

static void ring_put(struct ring* r, uint8_t v) {
  uint32_t h = r->head;
  if (h - r->tail >= RING) return;  /* full: drop */
  r->buf[h % RING] = v;
  r->head = h + 1;
}
static int ring_get(struct ring* r) {
  if (r->tail == r->head) return -1;
  uint8_t v = r->buf[r->tail % RING];
  r->tail = r->tail + 1;
  return v;
}

/* CPL 0: drain the controller into the rings. */
static void on_ps2(void) {
  for (int i = 0; i < 16; i++) {
    uint8_t st = inb(0x64);
    if (!(st & 1)) break;
    uint8_t v = inb(0x60);
    ring_put(st & 0x20 ? &mouse : &kbd, v);
  }
}

/* ---- user mode from here on ---- */
#define MMIO_IDLE ((volatile uint8_t*)0xfebf0010ULL)

static void fill(int x, int y, int w, int h, uint32_t c) {
  for (int j = y; j < y + h; j++)
    if (j >= 0 && j < H)
      for (int i = x; i < x + w; i++) if (i >= 0 && i < W) fb[j * W + i] = c;
}
static void glyph(int x, int y, char ch, uint32_t fg, uint32_t bg) {
  if (ch < 32 || ch > 126) ch = '?';
  const uint8_t* g = font8x16[ch - 32];
  for (int j = 0; j < 16; j++)
    for (int i = 0; i < 8; i++) fb[(y + j) * W + x + i] = (g[j] & (0x80 >> i)) ? fg : bg;
}
static void text(int x, int y, const char* s, uint32_t fg, uint32_t bg) { for (; *s; s++, x += 8) glyph(x, y, *s, fg, bg); }

static void wallpaper(void) {
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) fb[y * W + x] = (uint32_t)((20 + y * 40 / H) << 16 | (60 + x * 80 / W) << 8 | (120 + y * 100 / H));
}

/* Window geometry. */
#define WX 112
#define WY 120
#define WW 800
#define WH 480
#define COLS ((WW - 32) / 8)
#define ROWS ((WH - 64) / 16)
static char screen[ROWS][COLS + 1];
static int row, col;
static char line[COLS + 1];
static int line_len;

static void window(void) {
  fill(WX + 6, WY + 6, WW, WH, 0x101820);           /* shadow */
  fill(WX, WY, WW, 28, 0x2f6fde);                    /* title bar */
  text(WX + 12, WY + 6, "VDI microVM desktop - type here", 0xffffff, 0x2f6fde);
  fill(WX, WY + 28, WW, WH - 28, 0xf8f8f4);
}
static void draw_cell(int r, int c) { glyph(WX + 16 + c * 8, WY + 44 + r * 16, screen[r][c] ? screen[r][c] : ' ', 0x1c2330, 0xf8f8f4); }
static void draw_cursor(int on) { fill(WX + 16 + col * 8, WY + 44 + row * 16 + 14, 8, 2, on ? 0x1c2330 : 0xf8f8f4); }

static void newline(void) {
  line[line_len] = 0;
  sys_puts("typed: "); sys_puts(line); sys_puts("\n");  /* readable through the serial log */
  line_len = 0;
  col = 0;
  if (++row == ROWS) {  /* scroll */
    for (int r = 1; r < ROWS; r++) for (int c = 0; c < COLS; c++) screen[r - 1][c] = screen[r][c];
    for (int c = 0; c < COLS; c++) screen[ROWS - 1][c] = 0;
    row = ROWS - 1;
    for (int r = 0; r < ROWS; r++) for (int c = 0; c < COLS; c++) draw_cell(r, c);
  }
}
static void put_char(char ch) {
  if (ch == '\n') { draw_cursor(0); newline(); draw_cursor(1); return; }
  if (ch == '\b') {
    if (col == 0) return;
    draw_cursor(0); col--; screen[row][col] = 0; if (line_len) line_len--; draw_cell(row, col); draw_cursor(1);
    return;
  }
  if (col == COLS) put_char('\n');
  screen[row][col] = ch;
  if (line_len < COLS) line[line_len++] = ch;
  draw_cursor(0); draw_cell(row, col); col++; draw_cursor(1);
}

/* Scancode set 1 → ASCII. */
static const char lower[] = "\0\0331234567890-=\b\tqwertyuiop[]\n\0asdfghjkl;'`\0\\zxcvbnm,./\0*\0 ";
static const char upper[] = "\0\033!@#$%^&*()_+\b\tQWERTYUIOP{}\n\0ASDFGHJKL:\"~\0|ZXCVBNM<>?\0*\0 ";
static int shift, extended;
static void on_scancode(uint8_t sc) {
  if (sc == 0xe0) { extended = 1; return; }
  int up = sc & 0x80, code = sc & 0x7f;
  if (extended) { extended = 0; return; }
  if (code == 0x2a || code == 0x36) { shift = !up; return; }
  if (up || code >= (int)sizeof lower) return;
  char ch = shift ? upper[code] : lower[code];
  if (ch && ch != '\033' && ch != '\t') put_char(ch);
}

/* Mouse pointer: a 12x19 arrow, with what lies under it saved and restored. */
static const char* arrow[19] = {"X", "XX", "X.X", "X..X", "X...X", "X....X", "X.....X", "X......X", "X.......X", "X........X", "X.........X",
                                "X......XXXXX", "X...X..X", "X..XX..X", "X.X  X..X", "XX   X..X", "X     X..X", "      X..X", "       XX"};
static uint32_t under[19][12];
static int px = W / 2, py = H / 2, saved;
static void pointer(int draw) {
  for (int j = 0; j < 19; j++)
    for (int i = 0; i < 12; i++) {
      int x = px + i, y = py + j;
      if (x >= W || y >= H) continue;
      if (draw) { under[j][i] = fb[y * W + x]; char c = arrow[j][i]; if (c == 'X') fb[y * W + x] = 0; else if (c == '.') fb[y * W + x] = 0xffffff; if (!c) break; }
      else { char c = arrow[j][i]; if (!c) break; if (c == 'X' || c == '.') fb[y * W + x] = under[j][i]; }
    }
  saved = draw;
}
static uint8_t packet[3];
static int packet_len;
static void on_mouse_byte(uint8_t b) {
  if (packet_len == 0 && !(b & 0x08)) return;  /* resynchronise on the always-one bit */
  packet[packet_len++] = b;
  if (packet_len < 3) return;
  packet_len = 0;
  int dx = packet[1] - ((packet[0] & 0x10) ? 256 : 0);
  int dy = packet[2] - ((packet[0] & 0x20) ? 256 : 0);
  pointer(0);
  px += dx; py -= dy;
  px = px < 0 ? 0 : px > W - 1 ? W - 1 : px;
  py = py < 0 ? 0 : py > H - 1 ? H - 1 : py;
  if (packet[0] & 1) fill(px, py, 3, 3, 0xde2f6f);  /* left button paints */
  pointer(1);
}

static void clock(uint64_t secs) {
  char b[] = "uptime 00:00:00";
  b[7] = (char)('0' + secs / 36000 % 10); b[8] = (char)('0' + secs / 3600 % 10);
  b[10] = (char)('0' + secs / 600 % 6); b[11] = (char)('0' + secs / 60 % 10);
  b[13] = (char)('0' + secs / 10 % 6); b[14] = (char)('0' + secs % 10);
  int had = saved && py < 40 && px > W - 160;
  if (had) pointer(0);
  fill(W - 150, 8, 140, 24, 0x1c2330);
  text(W - 140, 12, b, 0xffffff, 0x1c2330);
  if (had) pointer(1);
}

static void desktop(void) {
  wallpaper();
  window();
  for (int r = 0; r < ROWS; r++) for (int c = 0; c < COLS; c++) draw_cell(r, c);
  draw_cursor(1);
  pointer(1);
  sys_puts("desktop ready\n");
  uint64_t shown = ~0ULL;
  for (;;) {
    int b;
    int busy = 0;
    while ((b = ring_get(&kbd)) >= 0) { on_scancode((uint8_t)b); busy = 1; }
    while ((b = ring_get(&mouse)) >= 0) { on_mouse_byte((uint8_t)b); busy = 1; }
    uint64_t secs = ticks / 100;
    if (secs != shown) { shown = secs; clock(secs); }
    if (!busy) *MMIO_IDLE = 1;  /* nothing to do: let the VMM sleep this vCPU a little */
  }
}

static void vbe(uint16_t i, uint16_t v) { outw(0x1ce, i); outw(0x1cf, v); }
static void ps2_wait_write(void) { for (int i = 0; i < 10000 && (inb(0x64) & 2); i++) {} }
static void ps2_cmd(uint8_t c) { ps2_wait_write(); outb(0x64, c); }
static void ps2_data(uint8_t d) { ps2_wait_write(); outb(0x60, d); }
static uint8_t ps2_read(void) { for (int i = 0; i < 10000; i++) if (inb(0x64) & 1) return inb(0x60); return 0; }

void guest_main(void) {
  cpu_init();
  vbe(4, 0); vbe(1, W); vbe(2, H); vbe(3, 32); vbe(4, 1 | 0x40);
  fb = (volatile uint32_t*)boot->fb_addr;
  ps2_cmd(0xa8);                       /* enable the mouse port */
  ps2_cmd(0x20);
  uint8_t ccb = ps2_read();
  ps2_cmd(0x60); ps2_data((uint8_t)((ccb | 3) & ~0x30));  /* both IRQs on, both ports enabled */
  ps2_cmd(0xd4); ps2_data(0xf4); (void)ps2_read();        /* mouse: start reporting */
  irq_set_handler(1, on_ps2);
  irq_set_handler(12, on_ps2);
  pic_init(1 << 0 | 1 << 1 | 1 << 12);
  pit_init(100);
  extern char user_stack_top[];
  enter_user(desktop, (uint64_t)user_stack_top);
}

__asm__(".section .bss\n.align 16\nuser_stack: .skip 65536\n.global user_stack_top\nuser_stack_top:\n.text\n");
