# One accepted connection of Net::Async::HTTP::Server (see there): reads requests,
# keeps their responses in request order.
package Net::Async::HTTP::Server::Protocol;

use strict;
use warnings;

use base qw( IO::Async::Stream );

use HTTP::Request;

our $VERSION = '0.14';

# Headers larger than this end the connection (a client gone wrong, not a test).
use constant MAX_HEADER_BYTES => 1024 * 1024;

sub _init
{
   my $self = shift;
   $self->{pending} = [];
   $self->SUPER::_init( @_ );
}

sub on_read
{
   my $self = shift;
   my ( $buffref, $eof ) = @_;

   while( 1 ) {
      my $request = $self->_take_request( $buffref );
      last if !defined $request;
      if( !ref $request ) {
         # Unparseable: answer once and hang up.
         $self->write( "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" );
         $self->close_when_empty;
         return 0;
      }

      my $server = $self->{server};
      my $req = $server->make_request( $self, $request );
      push @{ $self->{pending} }, $req;
      $server->_received_request( $req );
   }

   $self->close_when_empty if $eof;
   return 0;
}

# Removes one whole request from the buffer: an HTTP::Request, undef when more bytes
# are needed, or a false non-reference value when the bytes are not HTTP.
sub _take_request
{
   my $self = shift;
   my ( $buffref ) = @_;

   $$buffref =~ s/^(?:\r?\n)+//;
   my $end = index( $$buffref, "\r\n\r\n" );
   if( $end < 0 ) {
      return length $$buffref > MAX_HEADER_BYTES ? "" : undef;
   }

   my $head = substr( $$buffref, 0, $end );
   my ( $start, @lines ) = split m/\r\n/, $head;
   my ( $method, $uri, $protocol ) = ( $start // "" ) =~ m{^(\S+)\s+(\S+)\s+(HTTP/\d\.\d)$}
      or return "";

   my $request = HTTP::Request->new( $method, $uri );
   $request->protocol( $protocol );
   foreach my $line ( @lines ) {
      my ( $name, $value ) = $line =~ m/^([^:\s]+):\s*(.*?)\s*$/ or return "";
      $request->headers->push_header( $name, $value );
   }

   my $offset = $end + 4;
   my $te = $request->header( "Transfer-Encoding" ) // "";
   if( $te =~ m/chunked/i ) {
      my $body = "";
      my $pos = $offset;
      while( 1 ) {
         my $eol = index( $$buffref, "\r\n", $pos );
         return undef if $eol < 0;
         my ( $size ) = substr( $$buffref, $pos, $eol - $pos ) =~ m/^([0-9A-Fa-f]+)/ or return "";
         $size = hex $size;
         $pos = $eol + 2;
         if( $size == 0 ) {
            # Skip trailers up to the empty line.
            my $trailers_end = index( $$buffref, "\r\n", $pos );
            while( $trailers_end >= 0 and $trailers_end != $pos ) {
               $pos = $trailers_end + 2;
               $trailers_end = index( $$buffref, "\r\n", $pos );
            }
            return undef if $trailers_end < 0;
            $pos += 2;
            last;
         }
         return undef if length( $$buffref ) < $pos + $size + 2;
         $body .= substr( $$buffref, $pos, $size );
         $pos += $size + 2;
      }
      $request->remove_header( "Transfer-Encoding" );
      $request->content_length( length $body );
      $request->content( $body );
      substr( $$buffref, 0, $pos ) = "";
      return $request;
   }

   my $length = $request->content_length // 0;
   $length =~ m/^\d+$/ or return "";
   return undef if length( $$buffref ) < $offset + $length;
   $request->content( substr( $$buffref, $offset, $length ) );
   substr( $$buffref, 0, $offset + $length ) = "";
   return $request;
}

# Writes the responses that are ready, in request order.
sub _flush_responses
{
   my $self = shift;

   my $pending = $self->{pending};
   while( @$pending and defined $pending->[0]{response_bytes} ) {
      my $req = shift @$pending;
      $self->write( $req->{response_bytes} );
      if( $req->{close_after} ) {
         $self->close_when_empty;
         @$pending = ();
         last;
      }
   }
}

1;
