# A stand-in for CPAN's Crypt::Ed25519, which Debian does not package, written on top
# of CryptX's Crypt::PK::Ed25519 (Debian's libcryptx-perl). SyTest calls only the
# functions below: keys are raw 32-byte strings and signatures raw 64-byte strings.
package Crypt::Ed25519;

use strict;
use warnings;

use Carp;
use Crypt::PK::Ed25519;
use Crypt::PRNG qw( random_bytes );

our $VERSION = '1.05';

sub _private
{
   my ( $secret ) = @_;
   length $secret == 32 or croak "Ed25519 secret keys are 32 bytes";
   my $key = Crypt::PK::Ed25519->new;
   $key->import_key_raw( $secret, 'private' );
   return $key;
}

# A new secret key (the 32-byte seed).
sub eddsa_secret_key { return random_bytes( 32 ) }

sub eddsa_public_key
{
   my ( $secret ) = @_;
   return _private( $secret )->export_key_raw( 'public' );
}

# The public key is implied by the secret one; it is accepted for the original's
# signature and checked, so that a mismatched pair fails loudly.
sub eddsa_sign
{
   my ( $message, $public, $secret ) = @_;
   my $key = _private( $secret );
   !defined $public or $public eq $key->export_key_raw( 'public' ) or
      croak "Ed25519 public key does not belong to the secret key";
   return $key->sign_message( $message );
}

# True when $signature is a valid signature of $message by $public. Like the original
# it reads only the first 64 bytes of the signature.
sub eddsa_verify
{
   my ( $message, $public, $signature ) = @_;
   return 0 unless defined $public and length $public == 32;
   return 0 unless defined $signature and length $signature >= 64;
   my $key = eval {
      my $k = Crypt::PK::Ed25519->new;
      $k->import_key_raw( $public, 'public' );
      $k;
   } or return 0;
   return $key->verify_message( substr( $signature, 0, 64 ), $message ) ? 1 : 0;
}

*verify = \&eddsa_verify;

1;
