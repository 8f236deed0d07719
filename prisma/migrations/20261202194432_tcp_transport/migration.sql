-- Users allowed every transport there was are allowed the new one, IPv6 over TCP, too.
UPDATE "User" SET "allowedTransports" = 'proto41,udp,tcp' WHERE "allowedTransports" = 'proto41,udp';
