// vdi-rdp-bridge: one RDP session re-served as RFB (docs/rdp.md). It connects to a guest's RDP
// server over libfreerdp2 (software GDI, 32-bit), then serves that screen to exactly one RFB
// client on a unix socket (the node's console gateway, which admits the browser). The guest is
// hostile: sizes it controls are capped, and the bridge is one unprivileged process per session,
// so a crash ends one console and never the VM.
//   vdi-rdp-bridge --host H --port P --user U --listen SOCK [--width W --height H]
// The password comes on stdin (one line), never in argv. Exit: 0 when the client left, 2 for a
// usage error, 3 when the RDP connection failed (reason on stderr), 4 when the RDP session ended.
#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/input.h>
#include <freerdp/settings.h>
#include <winpr/synch.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "rfb_server.h"

namespace {

constexpr uint32_t kMaxSide = 8192;  // a desktop the server asks for beyond this is refused

struct BridgeContext {
  rdpContext base;  // must stay first: libfreerdp allocates ContextSize and hands it back as rdpContext*
  vdi::RfbServer* rfb;
};

BridgeContext* bridgeOf(rdpContext* c) { return reinterpret_cast<BridgeContext*>(c); }

bool framebufferChanged(rdpContext* context) {
  rdpGdi* gdi = context->gdi;
  if (!gdi || !gdi->primary || !gdi->primary->hdc || !gdi->primary->hdc->hwnd) return true;
  HGDI_WND wnd = gdi->primary->hdc->hwnd;
  if (wnd->invalid->null) return true;
  auto nonNegative = [](INT32 v) { return v < 0 ? 0u : (uint32_t)v; };
  vdi::Rect r{nonNegative(wnd->invalid->x), nonNegative(wnd->invalid->y), nonNegative(wnd->invalid->w), nonNegative(wnd->invalid->h)};
  bridgeOf(context)->rfb->damage(r);
  wnd->invalid->null = TRUE;
  wnd->ninvalid = 0;
  return true;
}

BOOL onEndPaint(rdpContext* context) { return framebufferChanged(context) ? TRUE : FALSE; }

BOOL onDesktopResize(rdpContext* context) {
  rdpSettings* s = context->settings;
  if (s->DesktopWidth == 0 || s->DesktopHeight == 0 || s->DesktopWidth > kMaxSide || s->DesktopHeight > kMaxSide) {
    std::fprintf(stderr, "rdp-bridge: the server asked for a desktop of %ux%u (at most %u per side)\n", s->DesktopWidth, s->DesktopHeight, kMaxSide);
    return FALSE;
  }
  if (!gdi_resize(context->gdi, s->DesktopWidth, s->DesktopHeight)) return FALSE;
  rdpGdi* gdi = context->gdi;
  bridgeOf(context)->rfb->resize(gdi->width, gdi->height, gdi->stride, gdi->primary_buffer);
  return TRUE;
}

BOOL onPreConnect(freerdp* instance) {
  rdpSettings* s = instance->settings;
  s->OsMajorType = OSMAJORTYPE_UNIX;
  s->OsMinorType = OSMINORTYPE_NATIVE_XSERVER;
  s->SoftwareGdi = TRUE;
  s->ColorDepth = 32;
  s->AutoLogonEnabled = TRUE;  // xrdp reads the password only with the auto-logon flag
  s->SupportDisplayControl = FALSE;
  s->AudioPlayback = FALSE;
  s->RedirectClipboard = FALSE;
  return TRUE;
}

BOOL onPostConnect(freerdp* instance) {
  if (!gdi_init(instance, PIXEL_FORMAT_BGRX32)) return FALSE;
  rdpGdi* gdi = instance->context->gdi;
  if (gdi->width <= 0 || gdi->height <= 0 || (uint32_t)gdi->width > kMaxSide || (uint32_t)gdi->height > kMaxSide) return FALSE;
  instance->update->EndPaint = onEndPaint;
  instance->update->DesktopResize = onDesktopResize;
  bridgeOf(instance->context)->rfb->resize(gdi->width, gdi->height, gdi->stride, gdi->primary_buffer);
  return TRUE;
}

// The guest's certificate is its own self-signed one, made at its first boot; the bridge reaches
// it only over the node's loopback forward, and the password is per VM (docs/rdp.md).
DWORD onVerifyCertificate(freerdp*, const char*, UINT16, const char*, const char*, const char*, const char*, DWORD) { return 2; }
DWORD onVerifyChangedCertificate(freerdp*, const char*, UINT16, const char*, const char*, const char*, const char*, const char*, const char*, const char*, DWORD) { return 2; }

int listenUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) { ::close(fd); errno = ENAMETOOLONG; return -1; }
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || ::listen(fd, 1) < 0) { ::close(fd); return -1; }
  return fd;
}

void usage() {
  std::fprintf(stderr, "usage: vdi-rdp-bridge --host H --port P --user U --listen SOCK [--width W --height H] (password on stdin)\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string host, user, listenPath;
  unsigned port = 3389, width = 1280, height = 800;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (i + 1 >= argc) { usage(); return 2; }
    std::string v = argv[++i];
    if (a == "--host") host = v;
    else if (a == "--port") port = (unsigned)std::strtoul(v.c_str(), nullptr, 10);
    else if (a == "--user") user = v;
    else if (a == "--listen") listenPath = v;
    else if (a == "--width") width = (unsigned)std::strtoul(v.c_str(), nullptr, 10);
    else if (a == "--height") height = (unsigned)std::strtoul(v.c_str(), nullptr, 10);
    else { usage(); return 2; }
  }
  if (host.empty() || user.empty() || listenPath.empty() || port == 0 || port > 65535 || width < 64 || height < 64 || width > kMaxSide || height > kMaxSide) { usage(); return 2; }
  std::string password;
  if (!std::getline(std::cin, password) || password.empty() || password.size() > 256) { std::fprintf(stderr, "rdp-bridge: no password on stdin\n"); return 2; }

  vdi::RfbServer rfb("vdi rdp");
  freerdp* instance = freerdp_new();
  if (!instance) return 3;
  instance->ContextSize = sizeof(BridgeContext);
  instance->PreConnect = onPreConnect;
  instance->PostConnect = onPostConnect;
  instance->VerifyCertificateEx = onVerifyCertificate;
  instance->VerifyChangedCertificateEx = onVerifyChangedCertificate;
  if (!freerdp_context_new(instance)) return 3;
  bridgeOf(instance->context)->rfb = &rfb;
  rdpSettings* s = instance->settings;
  s->ServerHostname = ::strdup(host.c_str());
  s->ServerPort = port;
  s->Username = ::strdup(user.c_str());
  s->Password = ::strdup(password.c_str());
  s->DesktopWidth = width;
  s->DesktopHeight = height;
  // The guest's certificate is its own self-signed one: the bridge trusts the node's loopback
  // forward and the per-VM password instead, and keeps no certificate store (it has no home).
  s->IgnoreCertificate = TRUE;
  s->NlaSecurity = FALSE;  // xrdp: TLS with the password in the auto-logon info
  s->TlsSecurity = TRUE;
  s->RdpSecurity = FALSE;
  password.assign(password.size(), '\0');

  if (!freerdp_connect(instance)) {
    UINT32 err = freerdp_get_last_error(instance->context);
    std::fprintf(stderr, "rdp-bridge: cannot connect to %s:%u: %s\n", host.c_str(), port, freerdp_get_last_error_string(err));
    return 3;
  }
  int lfd = listenUnix(listenPath);
  if (lfd < 0) { std::fprintf(stderr, "rdp-bridge: cannot listen on %s: %s\n", listenPath.c_str(), std::strerror(errno)); return 3; }
  std::fprintf(stderr, "rdp-bridge: connected to %s:%u as %s, %ux%u; serving RFB on %s\n", host.c_str(), port, user.c_str(),
               instance->context->gdi->width, instance->context->gdi->height, listenPath.c_str());

  // One client: the gateway's connection for this session. The RDP session is served meanwhile
  // (a server that gets no answers ends it).
  HANDLE listenEvent = CreateFileDescriptorEvent(nullptr, FALSE, FALSE, lfd, WINPR_FD_READ);
  for (int waited = 0;; waited += 100) {
    pollfd pl{lfd, POLLIN, 0};
    if (::poll(&pl, 1, 0) > 0) break;
    if (waited >= 30'000) { std::fprintf(stderr, "rdp-bridge: no client came within 30 s\n"); return 0; }
    HANDLE handles[64];
    DWORD n = freerdp_get_event_handles(instance->context, handles, 63);
    if (n == 0) return 4;
    handles[n++] = listenEvent;
    WaitForMultipleObjects(n, handles, FALSE, 100);
    if (!freerdp_check_event_handles(instance->context)) {
      std::fprintf(stderr, "rdp-bridge: the RDP session ended before a client came: %s\n", freerdp_get_last_error_string(freerdp_get_last_error(instance->context)));
      return 4;
    }
  }
  CloseHandle(listenEvent);
  int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(lfd);
  ::unlink(listenPath.c_str());
  if (cfd < 0 || !rfb.start(cfd)) return 0;

  vdi::RfbInput input{
    [&](bool down, uint32_t scancode) {
      UINT32 rdpCode = (scancode & 0x7f) | ((scancode & 0x80) ? KBDEXT : 0);
      freerdp_input_send_keyboard_event_ex(instance->input, down ? TRUE : FALSE, rdpCode);
    },
    [&](uint16_t flags, uint16_t x, uint16_t y) { freerdp_input_send_mouse_event(instance->input, flags, x, y); },
  };
  HANDLE clientEvent = CreateFileDescriptorEvent(nullptr, FALSE, FALSE, cfd, WINPR_FD_READ);
  int status = 0;
  for (;;) {
    HANDLE handles[64];
    DWORD n = freerdp_get_event_handles(instance->context, handles, 63);
    if (n == 0) { status = 4; break; }
    handles[n++] = clientEvent;
    DWORD w = WaitForMultipleObjects(n, handles, FALSE, 100);
    if (w == WAIT_FAILED) { status = 4; break; }
    if (!freerdp_check_event_handles(instance->context)) {
      std::fprintf(stderr, "rdp-bridge: the RDP session ended: %s\n", freerdp_get_last_error_string(freerdp_get_last_error(instance->context)));
      status = 4;
      break;
    }
    if (freerdp_shall_disconnect(instance)) { status = 4; break; }
    if (!rfb.readClient(input)) break;   // the client left or broke the protocol
    if (!rfb.flush()) break;
  }
  CloseHandle(clientEvent);
  freerdp_disconnect(instance);
  gdi_free(instance);
  freerdp_context_free(instance);
  freerdp_free(instance);
  return status;
}
