// vdi-rdp-bridge: one RDP session re-served as RFB (docs/rdp.md). It connects to a guest's RDP
// server over libfreerdp2 (software GDI, 32-bit), then serves that screen to one RFB client on a
// unix socket (the node's console gateway, which admits the browser), and to up to four viewers
// who connect to the same socket later (a helpdesk shadow: the same screen, never the clipboard;
// the bridge lives as long as its first client). The guest is
// hostile: sizes it controls are capped, and the bridge is one unprivileged process per session,
// so a crash ends one console and never the VM.
//   vdi-rdp-bridge --host H --port P --user U --listen SOCK [--width W --height H]
// The password comes on stdin (one line), never in argv. Exit: 0 when the client left, 2 for a
// usage error, 3 when the RDP connection failed (reason on stderr), 4 when the RDP session ended.
// Channels: cliprdr (text both ways, CF_UNICODETEXT) and the display-control channel (the client's
// window size becomes the desktop's). Channel callbacks run on FreeRDP's channel threads: they
// hand over to the main loop through `Bridge` (a mutex and a wake event), which alone writes RFB.
#include <freerdp/addin.h>
#include <freerdp/channels/channels.h>
#include <freerdp/client/channels.h>
#include <freerdp/client/cliprdr.h>
#include <freerdp/client/cmdline.h>
#include <freerdp/client/disp.h>
#include <freerdp/event.h>
#include <freerdp/freerdp.h>
#include <freerdp/gdi/gdi.h>
#include <freerdp/input.h>
#include <freerdp/settings.h>
#include <winpr/synch.h>

#include <netdb.h>
#include <poll.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "rfb_server.h"

namespace {

constexpr uint32_t kMaxSide = 8192;
constexpr UINT32 kProtocolHybrid = 0x00000002;  // MS-RDPBCGR 2.2.1.1.1: CredSSP (NLA)

// Whether anything listens on host:port (IPv4 literal or name), within 5 s: "server down" is
// told apart from a refused login before FreeRDP reports both as a transport failure.
std::string tcpProbe(const std::string& host, unsigned port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) return "cannot resolve " + host;
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  std::string why;
  if (fd < 0) why = std::strerror(errno);
  else if (::connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS) why = std::strerror(errno);
  else {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    if (::poll(&p, 1, 5'000) <= 0) why = "no answer within 5 s";
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) why = std::strerror(err);
  }
  if (fd >= 0) ::close(fd);
  freeaddrinfo(res);
  return why;
}  // a desktop the server asks for beyond this is refused

// What the channel threads and the main loop share.
struct Bridge {
  vdi::RfbServer* rfb = nullptr;  // the session's own client (the user's console)
  // Viewers of the same session (a helpdesk shadow): the same screen, never the clipboard; what
  // they may send is the gateway's to decide (view only, or control the user accepted).
  std::vector<std::unique_ptr<vdi::RfbServer>> viewers;
  HANDLE wake = nullptr;  // set when a channel thread left something for the main loop
  std::mutex mu;
  // Clipboard (cliprdr).
  CliprdrClientContext* cliprdr = nullptr;
  bool cliprdrReady = false;           // the server's Monitor Ready came
  std::string browserText;             // the browser's clipboard: served to the guest on request
  bool browserTextNew = false;         // to announce with a Format List
  std::optional<std::string> guestText;  // the guest's clipboard, for the main loop to send on
  UINT32 requested = 0;                // the format asked of the server
  // Display control (disp, over drdynvc).
  DispClientContext* disp = nullptr;
  bool dispReady = false;              // the server's caps came
  UINT32 maxArea = 8192u * 8192u;
  std::optional<std::pair<uint32_t, uint32_t>> wantSize;  // asked by the client, not sent yet
  uint64_t layoutSentAtMs = 0;         // one layout in flight at a time (1 s at most)
  bool layoutInFlight = false;
};

constexpr size_t kMaxClip = vdi::RfbClientParser::kMaxCutText;

struct BridgeContext {
  rdpContext base;  // must stay first: libfreerdp allocates ContextSize and hands it back as rdpContext*
  Bridge* bridge;   // libfreerdp callocs the context: C++ state lives outside it
};

Bridge* bridgeOf(rdpContext* c) { return reinterpret_cast<BridgeContext*>(c)->bridge; }

uint64_t nowMs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

// ---- cliprdr (MS-RDPECLIP): the bridge is the client; text only.

UINT sendFormatList(CliprdrClientContext* c, bool haveText) {
  CLIPRDR_FORMAT formats[2] = {{CF_UNICODETEXT, nullptr}, {CF_TEXT, nullptr}};
  CLIPRDR_FORMAT_LIST list{};
  list.msgType = CB_FORMAT_LIST;
  list.numFormats = haveText ? 2 : 0;
  list.formats = formats;
  return c->ClientFormatList(c, &list);
}

UINT onMonitorReady(CliprdrClientContext* c, const CLIPRDR_MONITOR_READY*) {
  Bridge* b = static_cast<Bridge*>(c->custom);
  CLIPRDR_GENERAL_CAPABILITY_SET general{};
  general.capabilitySetType = CB_CAPSTYPE_GENERAL;
  general.capabilitySetLength = CB_CAPSTYPE_GENERAL_LEN;
  general.version = CB_CAPS_VERSION_2;
  general.generalFlags = CB_USE_LONG_FORMAT_NAMES;
  CLIPRDR_CAPABILITIES caps{};
  caps.cCapabilitiesSets = 1;
  caps.capabilitySets = reinterpret_cast<CLIPRDR_CAPABILITY_SET*>(&general);
  UINT rc = c->ClientCapabilities(c, &caps);
  if (rc != CHANNEL_RC_OK) return rc;
  bool haveText;
  {
    std::lock_guard<std::mutex> l(b->mu);
    b->cliprdrReady = true;
    haveText = !b->browserText.empty();
    b->browserTextNew = false;
  }
  return sendFormatList(c, haveText);
}

UINT onServerCapabilities(CliprdrClientContext*, const CLIPRDR_CAPABILITIES*) { return CHANNEL_RC_OK; }
UINT onServerFormatListResponse(CliprdrClientContext*, const CLIPRDR_FORMAT_LIST_RESPONSE*) { return CHANNEL_RC_OK; }

// The guest copied something: take its text (Unicode where offered).
UINT onServerFormatList(CliprdrClientContext* c, const CLIPRDR_FORMAT_LIST* list) {
  Bridge* b = static_cast<Bridge*>(c->custom);
  CLIPRDR_FORMAT_LIST_RESPONSE ok{};
  ok.msgType = CB_FORMAT_LIST_RESPONSE;
  ok.msgFlags = CB_RESPONSE_OK;
  UINT rc = c->ClientFormatListResponse(c, &ok);
  if (rc != CHANNEL_RC_OK) return rc;
  UINT32 want = 0;
  for (UINT32 i = 0; i < list->numFormats && i < 256; i++) {
    if (list->formats[i].formatId == CF_UNICODETEXT) want = CF_UNICODETEXT;
    else if (list->formats[i].formatId == CF_TEXT && want == 0) want = CF_TEXT;
  }
  if (want == 0) return CHANNEL_RC_OK;  // no text on the guest's clipboard
  {
    std::lock_guard<std::mutex> l(b->mu);
    b->requested = want;
  }
  CLIPRDR_FORMAT_DATA_REQUEST req{};
  req.msgType = CB_FORMAT_DATA_REQUEST;
  req.requestedFormatId = want;
  return c->ClientFormatDataRequest(c, &req);
}

UINT onServerFormatDataResponse(CliprdrClientContext* c, const CLIPRDR_FORMAT_DATA_RESPONSE* resp) {
  Bridge* b = static_cast<Bridge*>(c->custom);
  if (!(resp->msgFlags & CB_RESPONSE_OK) || !resp->requestedFormatData) return CHANNEL_RC_OK;
  size_t n = std::min<size_t>(resp->dataLen, 2 * kMaxClip + 2);  // capped: the guest is hostile
  std::string text;
  std::lock_guard<std::mutex> l(b->mu);
  if (b->requested == CF_UNICODETEXT) text = vdi::cliptext::utf8FromUtf16le(resp->requestedFormatData, n);
  else {
    size_t len = strnlen(reinterpret_cast<const char*>(resp->requestedFormatData), n);
    text = vdi::cliptext::utf8FromLatin1(resp->requestedFormatData, len);
  }
  if (text.size() > kMaxClip) text.resize(kMaxClip);
  b->guestText = vdi::cliptext::toLf(text);
  SetEvent(b->wake);
  return CHANNEL_RC_OK;
}

// The guest pastes: give it the browser's text.
UINT onServerFormatDataRequest(CliprdrClientContext* c, const CLIPRDR_FORMAT_DATA_REQUEST* req) {
  Bridge* b = static_cast<Bridge*>(c->custom);
  std::vector<uint8_t> data;
  {
    std::lock_guard<std::mutex> l(b->mu);
    std::string crlf = vdi::cliptext::toCrLf(b->browserText);
    if (req->requestedFormatId == CF_UNICODETEXT) data = vdi::cliptext::utf16leFromUtf8(crlf);
    else if (req->requestedFormatId == CF_TEXT) {
      std::string l1 = vdi::cliptext::latin1FromUtf8(crlf);
      data.assign(l1.begin(), l1.end());
      data.push_back(0);
    }
  }
  CLIPRDR_FORMAT_DATA_RESPONSE resp{};
  resp.msgType = CB_FORMAT_DATA_RESPONSE;
  resp.msgFlags = data.empty() ? CB_RESPONSE_FAIL : CB_RESPONSE_OK;
  resp.dataLen = (UINT32)data.size();
  resp.requestedFormatData = data.empty() ? nullptr : data.data();
  return c->ClientFormatDataResponse(c, &resp);
}

// ---- display control (MS-RDPEDISP): the client's window size becomes the desktop's.

UINT onDisplayControlCaps(DispClientContext* d, UINT32 maxMonitors, UINT32 factorA, UINT32 factorB) {
  Bridge* b = static_cast<Bridge*>(d->custom);
  std::lock_guard<std::mutex> l(b->mu);
  b->dispReady = maxMonitors >= 1;
  uint64_t area = (uint64_t)factorA * factorB;
  b->maxArea = area == 0 || area > 8192u * 8192u ? 8192u * 8192u : (UINT32)area;
  SetEvent(b->wake);
  return CHANNEL_RC_OK;
}

void onChannelConnected(void* context, ChannelConnectedEventArgs* e) {
  Bridge* b = bridgeOf(static_cast<rdpContext*>(context));
  if (std::strcmp(e->name, CLIPRDR_SVC_CHANNEL_NAME) == 0) {
    auto* c = static_cast<CliprdrClientContext*>(e->pInterface);
    c->custom = b;
    c->MonitorReady = onMonitorReady;
    c->ServerCapabilities = onServerCapabilities;
    c->ServerFormatList = onServerFormatList;
    c->ServerFormatListResponse = onServerFormatListResponse;
    c->ServerFormatDataRequest = onServerFormatDataRequest;
    c->ServerFormatDataResponse = onServerFormatDataResponse;
    std::lock_guard<std::mutex> l(b->mu);
    b->cliprdr = c;
  } else if (std::strcmp(e->name, DISP_DVC_CHANNEL_NAME) == 0) {
    auto* d = static_cast<DispClientContext*>(e->pInterface);
    d->custom = b;
    d->DisplayControlCaps = onDisplayControlCaps;
    std::lock_guard<std::mutex> l(b->mu);
    b->disp = d;
  }
}

void onChannelDisconnected(void* context, ChannelDisconnectedEventArgs* e) {
  Bridge* b = bridgeOf(static_cast<rdpContext*>(context));
  std::lock_guard<std::mutex> l(b->mu);
  if (std::strcmp(e->name, CLIPRDR_SVC_CHANNEL_NAME) == 0) { b->cliprdr = nullptr; b->cliprdrReady = false; }
  else if (std::strcmp(e->name, DISP_DVC_CHANNEL_NAME) == 0) { b->disp = nullptr; b->dispReady = false; }
}

// The main loop's side: the browser's clipboard to the guest, the guest's to the browser, and
// the size the browser asked for (one layout in flight; MS-RDPEDISP: 200–8192, width even).
void pumpChannels(Bridge* b) {
  ResetEvent(b->wake);
  CliprdrClientContext* announce = nullptr;
  std::optional<std::string> toBrowser;
  DispClientContext* disp = nullptr;
  DISPLAY_CONTROL_MONITOR_LAYOUT layout{};
  {
    std::lock_guard<std::mutex> l(b->mu);
    if (b->browserTextNew && b->cliprdr && b->cliprdrReady) { announce = b->cliprdr; b->browserTextNew = false; }
    toBrowser.swap(b->guestText);
    if (b->layoutInFlight && nowMs() - b->layoutSentAtMs > 1000) b->layoutInFlight = false;
    if (b->wantSize && b->disp && b->dispReady && !b->layoutInFlight) {
      uint32_t w = std::clamp<uint32_t>(b->wantSize->first, 200, 8192) & ~1u, h = std::clamp<uint32_t>(b->wantSize->second, 200, 8192);
      b->wantSize.reset();
      if ((uint64_t)w * h > b->maxArea) {
        b->rfb->refuseResize(2);
      } else if (w == (uint32_t)b->rfb->width() && h == (uint32_t)b->rfb->height()) {
        b->rfb->refuseResize(3);  // the nearest size the server takes is the current one
      } else {
        layout.Flags = DISPLAY_CONTROL_MONITOR_PRIMARY;
        layout.Width = w;
        layout.Height = h;
        layout.PhysicalWidth = w * 254 / 960;  // mm at 96 dpi
        layout.PhysicalHeight = h * 254 / 960;
        layout.Orientation = ORIENTATION_LANDSCAPE;
        layout.DesktopScaleFactor = 100;
        layout.DeviceScaleFactor = 100;
        disp = b->disp;
        b->layoutInFlight = true;
        b->layoutSentAtMs = nowMs();
        b->rfb->resizeUnderway();
      }
    }
  }
  if (announce) sendFormatList(announce, true);
  if (toBrowser) b->rfb->setClipboard(std::move(*toBrowser));
  if (disp && disp->SendMonitorLayout(disp, 1, &layout) != CHANNEL_RC_OK) {
    std::lock_guard<std::mutex> l(b->mu);
    b->layoutInFlight = false;
    b->rfb->refuseResize(2);
  }
}

bool framebufferChanged(rdpContext* context) {
  rdpGdi* gdi = context->gdi;
  if (!gdi || !gdi->primary || !gdi->primary->hdc || !gdi->primary->hdc->hwnd) return true;
  HGDI_WND wnd = gdi->primary->hdc->hwnd;
  if (wnd->invalid->null) return true;
  auto nonNegative = [](INT32 v) { return v < 0 ? 0u : (uint32_t)v; };
  vdi::Rect r{nonNegative(wnd->invalid->x), nonNegative(wnd->invalid->y), nonNegative(wnd->invalid->w), nonNegative(wnd->invalid->h)};
  Bridge* b = bridgeOf(context);
  b->rfb->damage(r);
  for (auto& v : b->viewers) v->damage(r);
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
  Bridge* b = bridgeOf(context);
  b->rfb->resize(gdi->width, gdi->height, gdi->stride, gdi->primary_buffer);
  for (auto& v : b->viewers) v->resize(gdi->width, gdi->height, gdi->stride, gdi->primary_buffer);
  std::lock_guard<std::mutex> l(b->mu);
  b->layoutInFlight = false;
  SetEvent(b->wake);
  return TRUE;
}

BOOL onPreConnect(freerdp* instance) {
  rdpSettings* s = instance->settings;
  s->OsMajorType = OSMAJORTYPE_UNIX;
  s->OsMinorType = OSMINORTYPE_NATIVE_XSERVER;
  s->SoftwareGdi = TRUE;
  s->ColorDepth = 32;
  s->AutoLogonEnabled = TRUE;  // xrdp reads the password only with the auto-logon flag
  s->SupportDisplayControl = TRUE;
  s->DynamicResolutionUpdate = TRUE;
  s->AudioPlayback = FALSE;
  s->RedirectClipboard = TRUE;
  PubSub_SubscribeChannelConnected(instance->context->pubSub, onChannelConnected);
  PubSub_SubscribeChannelDisconnected(instance->context->pubSub, onChannelDisconnected);
  // cliprdr (static), and drdynvc carrying the display-control channel, from libfreerdp-client's
  // built-in channel table.
  if (!freerdp_client_load_addins(instance->context->channels, s)) {
    std::fprintf(stderr, "rdp-bridge: cannot load the clipboard and display-control channels\n");
    return FALSE;
  }
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

constexpr size_t kMaxViewers = 4;

/** A viewer waiting on the socket joins the session (kMaxViewers at most; the rest are turned away). */
void acceptViewer(int lfd, Bridge& bridge, rdpGdi* gdi, std::vector<HANDLE>& events) {
  pollfd pl{lfd, POLLIN, 0};
  if (::poll(&pl, 1, 0) <= 0) return;
  int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  if (bridge.viewers.size() >= kMaxViewers) { ::close(fd); return; }
  auto v = std::make_unique<vdi::RfbServer>("vdi rdp (viewer)");
  v->resize(gdi->width, gdi->height, gdi->stride, gdi->primary_buffer);
  if (!v->start(fd)) return;  // start() closes what it could not greet
  events.push_back(CreateFileDescriptorEvent(nullptr, FALSE, FALSE, fd, WINPR_FD_READ));
  bridge.viewers.push_back(std::move(v));
  std::fprintf(stderr, "rdp-bridge: a viewer joined (%zu watching)\n", bridge.viewers.size());
}

int listenUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) { ::close(fd); errno = ENAMETOOLONG; return -1; }
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || ::listen(fd, 4) < 0) { ::close(fd); return -1; }
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
  Bridge bridge;
  bridge.rfb = &rfb;
  bridge.wake = CreateEvent(nullptr, TRUE, FALSE, nullptr);
  freerdp_register_addin_provider(freerdp_channels_load_static_addin_entry, 0);
  freerdp* instance = freerdp_new();
  if (!instance) return 3;
  instance->ContextSize = sizeof(BridgeContext);
  instance->PreConnect = onPreConnect;
  instance->PostConnect = onPostConnect;
  instance->VerifyCertificateEx = onVerifyCertificate;
  instance->VerifyChangedCertificateEx = onVerifyChangedCertificate;
  if (!freerdp_context_new(instance)) return 3;
  reinterpret_cast<BridgeContext*>(instance->context)->bridge = &bridge;
  rdpSettings* s = instance->settings;
  s->ServerHostname = ::strdup(host.c_str());
  s->ServerPort = port;
  s->Username = ::strdup(user.c_str());
  s->Password = ::strdup(password.c_str());
  s->DesktopWidth = width;
  s->DesktopHeight = height;
  // The guest's certificate is its own self-signed one: the bridge trusts the node's loopback
  // forward and the per-VM password instead, and keeps no certificate store of its own.
  s->IgnoreCertificate = TRUE;
  // NLA (CredSSP) where the server asks for it (Windows, freerdp-shadow); xrdp picks TLS and
  // takes the password from the auto-logon info. Plain RDP security is never offered.
  s->NlaSecurity = TRUE;
  s->TlsSecurity = TRUE;
  s->RdpSecurity = FALSE;
  password.assign(password.size(), '\0');

  if (std::string down = tcpProbe(host, port); !down.empty()) {
    std::fprintf(stderr, "rdp-bridge: the RDP server at %s:%u does not answer: %s\n", host.c_str(), port, down.c_str());
    return 3;
  }
  if (!freerdp_connect(instance)) {
    UINT32 err = freerdp_get_last_error(instance->context);
    // A server that refuses NLA credentials often just closes the connection (freerdp-shadow
    // does): a transport failure after it chose NLA says the same as a logon failure.
    bool refused = err == FREERDP_ERROR_AUTHENTICATION_FAILED || err == FREERDP_ERROR_CONNECT_LOGON_FAILURE
                   || err == FREERDP_ERROR_CONNECT_WRONG_PASSWORD || err == FREERDP_ERROR_CONNECT_ACCESS_DENIED
                   || ((s->SelectedProtocol & kProtocolHybrid) && err == FREERDP_ERROR_CONNECT_TRANSPORT_FAILED);
    if (refused) std::fprintf(stderr, "rdp-bridge: %s:%u refused the credentials of %s (NLA)\n", host.c_str(), port, user.c_str());
    else std::fprintf(stderr, "rdp-bridge: cannot connect to %s:%u: %s\n", host.c_str(), port, freerdp_get_last_error_string(err));
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
  int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  if (cfd < 0 || !rfb.start(cfd)) { ::close(lfd); ::unlink(listenPath.c_str()); return 0; }

  vdi::RfbInput input{
    [&](bool down, uint32_t scancode) {
      UINT32 rdpCode = (scancode & 0x7f) | ((scancode & 0x80) ? KBDEXT : 0);
      freerdp_input_send_keyboard_event_ex(instance->input, down ? TRUE : FALSE, rdpCode);
    },
    [&](uint16_t flags, uint16_t x, uint16_t y) { freerdp_input_send_mouse_event(instance->input, flags, x, y); },
    [&](std::string text) {
      std::lock_guard<std::mutex> l(bridge.mu);
      bridge.browserText = std::move(text);
      bridge.browserTextNew = true;
      SetEvent(bridge.wake);
    },
    [&](uint16_t w, uint16_t h) {
      std::lock_guard<std::mutex> l(bridge.mu);
      bridge.wantSize = std::make_pair((uint32_t)w, (uint32_t)h);
      SetEvent(bridge.wake);
    },
  };
  // A viewer's input: keys and pointer (when the gateway lets them through); never a resize of
  // the user's desktop, and the user's clipboard stays the user's.
  vdi::RfbInput viewerInput = input;
  viewerInput.resize = [](uint16_t, uint16_t) {};
  viewerInput.cutText = [](std::string) {};
  std::vector<HANDLE> viewerEvents;
  HANDLE clientEvent = CreateFileDescriptorEvent(nullptr, FALSE, FALSE, cfd, WINPR_FD_READ);
  int status = 0;
  for (;;) {
    HANDLE handles[64];
    DWORD n = freerdp_get_event_handles(instance->context, handles, 64 - 3 - kMaxViewers);
    if (n == 0) { status = 4; break; }
    handles[n++] = clientEvent;
    handles[n++] = bridge.wake;
    handles[n++] = listenEvent;
    for (HANDLE h : viewerEvents) handles[n++] = h;
    DWORD w = WaitForMultipleObjects(n, handles, FALSE, 100);
    if (w == WAIT_FAILED) { status = 4; break; }
    if (!freerdp_check_event_handles(instance->context)) {
      std::fprintf(stderr, "rdp-bridge: the RDP session ended: %s\n", freerdp_get_last_error_string(freerdp_get_last_error(instance->context)));
      status = 4;
      break;
    }
    if (freerdp_shall_disconnect(instance)) { status = 4; break; }
    if (!rfb.readClient(input)) break;   // the client left or broke the protocol
    acceptViewer(lfd, bridge, instance->context->gdi, viewerEvents);
    for (size_t i = 0; i < bridge.viewers.size();) {
      // A viewer that left or broke the protocol goes alone; the session goes on.
      if (!bridge.viewers[i]->readClient(viewerInput) || !bridge.viewers[i]->flush()) {
        bridge.viewers.erase(bridge.viewers.begin() + (long)i);
        CloseHandle(viewerEvents[i]);
        viewerEvents.erase(viewerEvents.begin() + (long)i);
        std::fprintf(stderr, "rdp-bridge: a viewer left (%zu watching)\n", bridge.viewers.size());
      } else {
        i++;
      }
    }
    pumpChannels(&bridge);
    if (!rfb.flush()) break;
  }
  for (HANDLE h : viewerEvents) CloseHandle(h);
  bridge.viewers.clear();
  CloseHandle(listenEvent);
  ::close(lfd);
  ::unlink(listenPath.c_str());
  CloseHandle(clientEvent);
  freerdp_disconnect(instance);
  CloseHandle(bridge.wake);
  gdi_free(instance);
  freerdp_context_free(instance);
  freerdp_free(instance);
  return status;
}
