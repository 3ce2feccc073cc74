# One request received by Net::Async::HTTP::Server (see there).
package Net::Async::HTTP::Server::Request;

use strict;
use warnings;

use Carp;
use HTTP::Response;

our $VERSION = '0.14';

sub new
{
   my $class = shift;
   my ( $conn, $request ) = @_;

   return bless {
      conn    => $conn,
      req     => $request,
      is_done => 0,
   }, $class;
}

sub as_http_request { $_[0]{req} }
sub method          { $_[0]{req}->method }
sub path            { $_[0]{req}->uri->path }
sub protocol        { $_[0]{req}->protocol }
sub body            { $_[0]{req}->content }
sub stream          { $_[0]{conn} }
sub is_done         { $_[0]{is_done} }

sub query_string
{
   my $self = shift;
   return $self->{req}->uri->query;
}

sub query_form
{
   my $self = shift;
   return $self->{req}->uri->query_form;
}

# The first value of a query parameter, or undef.
sub query_param
{
   my $self = shift;
   my ( $name ) = @_;

   my @pairs = $self->{req}->uri->query_form;
   while( my ( $key, $value ) = splice @pairs, 0, 2 ) {
      return $value if $key eq $name;
   }
   return undef;
}

sub header
{
   my $self = shift;
   my ( $name ) = @_;
   return $self->{req}->header( $name );
}

# All headers as [ name, value ] pairs.
sub headers
{
   my $self = shift;
   my @headers;
   $self->{req}->headers->scan( sub { push @headers, [ @_ ] } );
   return @headers;
}

# Sends a whole HTTP::Response (HTTP/1.1, with Content-Length filled in when the
# response does not stream).
sub respond
{
   my $self = shift;
   my ( $response ) = @_;

   croak "This request has already been responded to" if $self->{is_done};

   $response->protocol( "HTTP/1.1" );
   if( !defined $response->content_length and
       ( $response->header( "Transfer-Encoding" ) // "" ) !~ m/chunked/i ) {
      use bytes;
      $response->content_length( length( $response->content // "" ) );
   }
   $self->_finish( $response->as_string( "\r\n" ) );
}

sub _finish
{
   my $self = shift;
   my ( $bytes ) = @_;

   $self->{is_done} = 1;
   $self->{response_bytes} = $bytes;
   $self->{close_after} = ( $self->{req}->header( "Connection" ) // "" ) =~ m/close/i
      || $self->protocol eq "HTTP/1.0";

   my $conn = $self->{conn};
   $conn->_flush_responses if $conn and $conn->write_handle;
}

1;
