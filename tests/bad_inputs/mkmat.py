# Writes a MAT-file v5 shaped like SVHN's (X: 32x32x3xN uint8, y: Nx1 double)
# whose headers may declare more than the file holds, for the svhn cases:
#   mkmat.py PATH X_DECLARED X_HELD Y_DECLARED Y_HELD [zlib]
# (the MAT-File Format: a 128-byte header, then one miMATRIX element per
# variable, or that element zlib-compressed in a miCOMPRESSED one).
import struct, sys, zlib

def element(mtype, payload):
    return struct.pack('<II', mtype, len(payload)) + payload + b'\0' * ((-len(payload)) % 8)

def matrix(name, cls, dims, data_type, data):
    body = element(6, struct.pack('<II', cls, 0))                  # array flags: class
    body += element(5, struct.pack('<%di' % len(dims), *dims))      # dimensions
    body += element(1, name.encode())                               # name
    body += element(data_type, data)                                # real part
    return struct.pack('<II', 14, len(body)) + body

path, x_declared, x_held, y_declared, y_held = sys.argv[1], *map(int, sys.argv[2:6])
compress = len(sys.argv) > 6
header = b'MATLAB 5.0 MAT-file, qretrain hostile SVHN fixture'.ljust(116) + b'\0' * 8 + struct.pack('<H', 0x0100) + b'IM'
x = bytes((i * 7) % 256 for i in range(32 * 32 * 3 * x_held))
y = b''.join(struct.pack('<d', 1 + i % 10) for i in range(y_held))
with open(path, 'wb') as f:
    f.write(header)
    for m in (matrix('X', 9, [32, 32, 3, x_declared], 2, x), matrix('y', 6, [y_declared, 1], 9, y)):
        if compress:
            z = zlib.compress(m)
            f.write(struct.pack('<II', 15, len(z)) + z)
        else:
            f.write(m)
