-- The console protocols a template offers, its default first ("vnc"; "rdp,vnc" for desktops).
ALTER TABLE "Template" ADD COLUMN "consoles" TEXT NOT NULL DEFAULT 'vnc';
